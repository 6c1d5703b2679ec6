"""Multi-head attention."""

from __future__ import annotations

from typing import Any

from chainrule.creation import empty
from chainrule.nn import init
from chainrule.nn.layers.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.attention import _mha
from chainrule.tensor import Tensor


class NonDynamicallyQuantizableLinear(Linear):
    """A :class:`Linear` under PyTorch's name for MultiheadAttention's output projection (so
    reprs and module types read the same)."""


class MultiheadAttention(Module):
    """Attention from a query sequence to a key/value sequence in ``num_heads`` heads of
    ``embed_dim // num_heads`` features: project, attend per head, concatenate, project back.

    Args:
        embed_dim: E, the query's features (and the output's).
        num_heads: number of heads; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights in training (default 0.0).
        bias: learn biases for the input and output projections (default True).
        add_bias_kv: not supported (raises NotImplementedError when True).
        add_zero_attn: not supported (raises NotImplementedError when True).
        kdim: the key's features (default ``embed_dim``).
        vdim: the value's features (default ``embed_dim``).
        batch_first: inputs and output are (N, L, E) instead of (L, N, E) (default False).

    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) ((N, L, E)... with
        ``batch_first``; (L, E), (S, kdim), (S, vdim) unbatched) -> output like the query and
        weights (N, L, S), or (N, num_heads, L, S) without averaging. ``key_padding_mask`` is
        (N, S) (or (S,)); ``attn_mask`` is (L, S) or (N * num_heads, L, S). Bool masks mark
        the positions to ignore (True); float masks are added to the scores.

    The joint ``in_proj_weight`` (3E, E) (or ``q_proj_weight``, ``k_proj_weight`` and
    ``v_proj_weight`` when kdim or vdim differ from E) starts Xavier-uniform, the biases at
    zero, and ``out_proj`` as a default :class:`Linear` with a zero bias, as in PyTorch.

    >>> import chainrule
    >>> mha = chainrule.nn.MultiheadAttention(16, 4, batch_first=True)
    >>> x = chainrule.randn(2, 5, 16)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than "
                             f"0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible "
                             f"by num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are "
                                      "not supported by chainrule")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        return _mha(query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
                    self.out_proj.weight, self.out_proj.bias, self.dropout, self.training,
                    key_padding_mask, need_weights, attn_mask, self.q_proj_weight,
                    self.k_proj_weight, self.v_proj_weight, average_attn_weights, is_causal,
                    self.batch_first)
