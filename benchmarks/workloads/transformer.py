"""A Transformer encoder training step (issue 4): two TransformerEncoderLayers (d_model 128,
4 heads, feed-forward 512, batch_first, dropout 0), a Linear(128, 10) head on every token and
cross-entropy; forward + loss + backward.

Batch 16, sequence 128. Both sides start from the same weights (PyTorch's initialisation copied
into chainrule) and the same data. PyTorch runs its standard (training) path; its eval-mode fast
path is not involved in a training step.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, register

BATCH, SEQ, D_MODEL, HEADS, FFN, LAYERS, CLASSES = 16, 128, 128, 4, 512, 2, 10
DROPOUT = 0.0


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH * SEQ)
    return x, y


def _weights() -> dict[str, np.ndarray]:
    """PyTorch's default initialisation of the model, as NumPy arrays by state_dict key."""
    import torch

    torch.manual_seed(0)
    enc, head = _build(torch.nn)
    state = {f"enc.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"head.{k}": v for k, v in head.state_dict().items()})
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def _build(nn):
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, dropout=DROPOUT, batch_first=True)
    kwargs = {"enable_nested_tensor": False}
    return nn.TransformerEncoder(layer, LAYERS, **kwargs), nn.Linear(D_MODEL, CLASSES)


def _step(lib, nn, F, as_tensor):
    """The same code for both frameworks (``lib`` is chainrule or torch)."""
    enc, head = _build(nn)
    weights = _weights()
    enc.load_state_dict({k[4:]: as_tensor(v) for k, v in weights.items() if k[:4] == "enc."})
    head.load_state_dict({k[5:]: as_tensor(v) for k, v in weights.items() if k[:5] == "head."})
    x, y = _data()
    xt, yt = as_tensor(x), as_tensor(y)

    def step():
        enc.zero_grad()
        head.zero_grad()
        logits = head(enc(xt))
        F.cross_entropy(logits.reshape(-1, CLASSES), yt).backward()

    return step, enc


def _chainrule():
    import chainrule
    from chainrule import nn
    from chainrule.nn import functional as F

    step, enc = _step(chainrule, nn, F, chainrule.from_numpy)
    step()
    for name, p in enc.named_parameters():
        if p.grad is None or p.grad.dtype != np.float32:
            raise AssertionError(f"transformer: the gradient of {name} is missing or not float32")
    return step


def _torch():
    import torch
    from torch import nn
    from torch.nn import functional as F

    return _step(torch, nn, F, torch.from_numpy)[0]


register(Workload(
    name="transformer_encoder_b16_t128_d128_step",
    chainrule=_chainrule,
    torch=_torch,
    bar=1.2,
    description="2 x TransformerEncoderLayer(128, 4 heads, ffn 512, batch_first), batch 16, "
                "seq 128, Linear(128, 10) per token -> cross_entropy; forward + backward",
))
