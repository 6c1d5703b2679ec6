"""Recurrent training steps (issue 4): an LSTM and a GRU over a sequence, the last hidden state
through a Linear classifier, cross-entropy; forward + loss + backward.

Batch 32, sequence 64, input 32, hidden 256, 10 classes, time-major input. A hand-written NumPy
LSTM step runs alongside as a reference: the input projection in one GEMM, one GEMM per step
with all gates, in-place gate math and the weight gradients as one GEMM over all steps. It is
the floor for a NumPy framework, so the ratio says what chainrule's layer adds on top.

chainrule cuts the batch into two 16-row halves that run their whole recurrence on two threads
(see ``chainrule.ops._recurrent_steps.plan``), and the GEMMs over all steps in two blocks; the
reference runs everything on one BLAS thread, so it is the single-core floor. PyTorch uses its
default threads.

Where chainrule's LSTM step went with the compiled gate kernels (the ``fast`` extra; CPU time
on one thread, session 3): per-step GEMMs 39 ms (forward and backward), weight-gradient GEMMs
18 ms, input projection 3.4 ms, gate math ~8 ms; of ~74 ms, ~60 were GEMMs. Run step by step,
every NumPy call of the two halves took the GIL, so they kept waiting for each other (and a
wake-up costs ~60 us in this VM): 49-60 ms wall. Since session 4 each half runs its whole
sequence in one compiled call that calls MKL's GEMM and tanh and never takes the GIL
(``chainrule.ops._recurrent_loops``): 32-38 ms wall, about PyTorch's time.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, register

SEQ, BATCH, INPUT, HIDDEN, CLASSES = 64, 32, 32, 256, 10
GATES = {"LSTM": 4, "GRU": 3}


def _data(mode: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    b = 1 / np.sqrt(HIDDEN)
    g = GATES[mode] * HIDDEN
    shapes = {"weight_ih_l0": (g, INPUT), "weight_hh_l0": (g, HIDDEN), "bias_ih_l0": (g,),
              "bias_hh_l0": (g,), "fc.weight": (CLASSES, HIDDEN), "fc.bias": (CLASSES,)}
    weights = {k: rng.uniform(-b, b, s).astype(np.float32) for k, s in shapes.items()}
    return x, y, weights


def _step(lib, nn, F, mode, x, y, weights, as_tensor):
    """The same code for both frameworks (``lib`` is chainrule or torch)."""
    rnn = getattr(nn, mode)(INPUT, HIDDEN)
    fc = nn.Linear(HIDDEN, CLASSES)
    with lib.no_grad():
        for k, v in weights.items():
            module, name = (fc, k[3:]) if k.startswith("fc.") else (rnn, k)
            getattr(module, name).data = as_tensor(v.copy())
    xt, yt = as_tensor(x), as_tensor(y)

    def step():
        rnn.zero_grad()
        fc.zero_grad()
        _, state = rnn(xt)
        h = state[0] if mode == "LSTM" else state
        F.cross_entropy(fc(h[-1]), yt).backward()

    return step, rnn


def _chainrule(mode):
    def setup():
        import chainrule
        from chainrule import nn
        from chainrule.nn import functional as F

        step, rnn = _step(chainrule, nn, F, mode, *_data(mode), chainrule.from_numpy)
        step()
        for p in rnn.parameters():
            if p.grad is None or p.grad.dtype != np.float32:
                raise AssertionError(f"rnn_{mode}: a gradient is missing or not float32")
        return step

    return setup


def _torch(mode):
    def setup():
        import torch
        from torch import nn
        from torch.nn import functional as F

        return _step(torch, nn, F, mode, *_data(mode), torch.from_numpy)[0]

    return setup


def _numpy_lstm():
    """The LSTM step written by hand in NumPy (textbook gate math, every trick of the brief),
    on one BLAS thread: the single-core floor."""
    from chainrule.ops._threads import _OpenBLAS

    x, y, w = _data("LSTM")
    w_ih, w_hh, wf = w["weight_ih_l0"], w["weight_hh_l0"], w["fc.weight"]
    bias = w["bias_ih_l0"] + w["bias_hh_l0"]
    onehot = np.eye(CLASSES, dtype=np.float32)[y]
    T, B, H = SEQ, BATCH, HIDDEN
    x2 = x.reshape(T * B, INPUT)

    def sigmoid_(a):
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)

    def step():
        with _OpenBLAS.single_threaded():
            body()

    def body():
        g = x2 @ w_ih.T
        g += bias
        g = g.reshape(T, B, 4 * H)
        hs = np.zeros((T + 1, B, H), np.float32)
        cs = np.zeros((T + 1, B, H), np.float32)
        tcs = np.empty((T, B, H), np.float32)
        for t in range(T):
            gt = g[t]
            gt += hs[t] @ w_hh.T
            sigmoid_(gt[:, :2 * H])
            np.tanh(gt[:, 2 * H:3 * H], out=gt[:, 2 * H:3 * H])
            sigmoid_(gt[:, 3 * H:])
            i, f, gg, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            np.multiply(f, cs[t], out=cs[t + 1])
            cs[t + 1] += i * gg
            np.tanh(cs[t + 1], out=tcs[t])
            np.multiply(o, tcs[t], out=hs[t + 1])
        logits = hs[T] @ wf.T + w["fc.bias"]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dlog = (p - onehot) / B
        _dwf, _dbf = dlog.T @ hs[T], dlog.sum(axis=0)
        dh = dlog @ wf
        dc = np.zeros((B, H), np.float32)
        dg = np.empty((T, B, 4 * H), np.float32)
        for t in range(T - 1, -1, -1):
            gt, d = g[t], dg[t]
            i, f, gg, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            tc = tcs[t]
            dc += dh * o * (1 - tc * tc)
            np.multiply(dh * tc, o * (1 - o), out=d[:, 3 * H:])
            np.multiply(dc * gg, i * (1 - i), out=d[:, :H])
            np.multiply(dc * cs[t], f * (1 - f), out=d[:, H:2 * H])
            np.multiply(dc * i, 1 - gg * gg, out=d[:, 2 * H:3 * H])
            dc *= f
            np.matmul(d, w_hh, out=dh)
        dg2 = dg.reshape(T * B, 4 * H)
        _dw_hh = dg2.T @ hs[:T].reshape(T * B, H)
        _dw_ih = dg2.T @ x2
        _db = dg2.sum(axis=0)

    return step


for _mode in ("LSTM", "GRU"):
    register(Workload(
        name=f"rnn_{_mode.lower()}_b32_t64_h256_step",
        chainrule=_chainrule(_mode),
        torch=_torch(_mode),
        references={"numpy_lstm": _numpy_lstm} if _mode == "LSTM" else {},
        bar=1.8,
        description=f"nn.{_mode}(32, 256) over 64 steps, batch 32, h_n -> Linear(256, 10) -> "
                    "cross_entropy; forward + backward",
    ))
