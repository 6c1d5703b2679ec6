"""The Transformer encoder: TransformerEncoderLayer and a stack of them, TransformerEncoder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.nn.containers import ModuleList
from chainrule.nn.layers.attention import MultiheadAttention
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.linear import Linear
from chainrule.nn.layers.normalization import LayerNorm
from chainrule.nn.module import Module
from chainrule.ops.activation import gelu, relu
from chainrule.ops.attention.feedforward import feed_forward
from chainrule.ops.norm import add_layer_norm
from chainrule.tensor import Tensor


def _get_activation_fn(activation: str) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return relu
    if activation == "gelu":
        return gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> Tensor:
    """(sz, sz) causal mask: -inf above the diagonal and 0 elsewhere (True/False if bool)."""
    above = np.triu(np.ones((sz, sz), dtype=bool), 1)
    if np.dtype(dtype) == np.bool_:
        return Tensor._wrap(above)
    return Tensor._wrap(np.where(above, -np.inf, 0.0).astype(dtype))


def _detect_is_causal_mask(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """``is_causal`` if given, else whether ``mask`` equals the causal mask of its size."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    causal = _generate_square_subsequent_mask(size, mask.dtype)
    return tuple(mask.shape) == causal.shape and bool(np.array_equal(mask.numpy(),
                                                                       causal.numpy()))


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each with a residual connection and a
    LayerNorm (after the sum, or before the block with ``norm_first``), as in "Attention Is
    All You Need" (Vaswani et al., 2017).

    Args:
        d_model: the number of expected features in the input.
        nhead: the number of attention heads.
        dim_feedforward: the hidden size of the feed-forward network (default 2048).
        dropout: dropout probability in attention and after each block (default 0.1).
        activation: 'relu' (default), 'gelu' or a callable (a function or a module).
        layer_norm_eps: the LayerNorms' eps (default 1e-5).
        batch_first: input and output are (N, S, E) instead of (S, N, E) (default False).
        norm_first: LayerNorm before attention and feed-forward instead of after (default False).
        bias: learn additive biases in the Linear and LayerNorm layers (default True).

    Shape:
        src (S, N, E), or (N, S, E) with ``batch_first``, or unbatched (S, E) -> the same
        shape. ``src_mask`` is (S, S) or (N * nhead, S, S); ``src_key_padding_mask`` is (N, S);
        bool masks mark the positions to ignore (True), float masks are added to the scores.

    >>> import chainrule
    >>> layer = chainrule.nn.TransformerEncoderLayer(d_model=16, nhead=4, batch_first=True)
    >>> layer(chainrule.randn(2, 10, 16)).shape
    (2, 10, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        self.activation = activation

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self._add_norm(self.norm1, x,
                               self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            if self._ff_fusable(x, residual=True):
                x = self.norm2(self._ff_fused(x, residual=True))
            else:
                x = self._add_norm(self.norm2, x, self._ff_block(x))
        return x

    @staticmethod
    def _add_norm(norm: Module, x: Tensor, y: Tensor) -> Tensor:
        """``norm(x + y)``, as one primitive when ``norm`` is a plain LayerNorm."""
        if (type(norm) is LayerNorm and not (norm._forward_hooks or norm._forward_pre_hooks)
                and x.shape == y.shape and x.dtype == y.dtype):
            return add_layer_norm(x, y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return norm(x + y)

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None,
                  key_padding_mask: Tensor | None, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        if self._ff_fusable(x):
            x = self._ff_fused(x)
        else:
            x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)

    def _ff_fused(self, x: Tensor, residual: bool = False) -> Tensor:
        l1, l2 = self.linear1, self.linear2
        return feed_forward(x, l1.weight, l1.bias, l2.weight, l2.bias, residual)

    def _ff_fusable(self, x: Tensor, residual: bool = False) -> bool:
        """Whether the feed-forward block (with ``residual``, ``x`` plus the block) may run as
        one fused primitive: relu, no active dropout inside (nor after, with ``residual``),
        plain Linear layers, no hooks, matching shapes and dtypes."""
        l1, l2 = self.linear1, self.linear2
        drops = (self.dropout, self.dropout2) if residual else (self.dropout,)
        return (self.activation is relu and type(l1) is Linear and type(l2) is Linear
                and all(type(d) is Dropout and not (d.training and d.p > 0) for d in drops)
                and not any(m._forward_hooks or m._forward_pre_hooks for m in (l1, l2, *drops))
                and x.ndim >= 1 and x.shape[-1] == l1.in_features
                and l1.out_features == l2.in_features
                and (not residual or l2.out_features == x.shape[-1])
                and all(p is None or p.dtype == x.dtype
                        for p in (l1.weight, l1.bias, l2.weight, l2.bias)))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (deep copies: no weights shared),
    optionally followed by a final normalisation.

    Args:
        encoder_layer: the layer to copy (a :class:`TransformerEncoderLayer`).
        num_layers: the number of layers.
        norm: a module applied to the last layer's output (e.g. a LayerNorm; default None).
        enable_nested_tensor: accepted for PyTorch compatibility and ignored (chainrule has no
            nested tensors; padded positions are computed and masked).
        mask_check: accepted for PyTorch compatibility and ignored.

    Shape:
        src (S, N, E), or (N, S, E) when the layer is ``batch_first`` -> the same shape;
        ``mask`` and ``src_key_padding_mask`` as for :class:`TransformerEncoderLayer`.

    >>> import chainrule
    >>> layer = chainrule.nn.TransformerEncoderLayer(d_model=16, nhead=4)
    >>> encoder = chainrule.nn.TransformerEncoder(layer, num_layers=2)
    >>> encoder(chainrule.randn(10, 2, 16)).shape
    (10, 2, 16)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        first = self.layers[0] if self.num_layers else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        seq_len = src.shape[1] if batch_first and src.ndim == 3 else src.shape[0]
        is_causal = _detect_is_causal_mask(mask, is_causal, seq_len)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output
