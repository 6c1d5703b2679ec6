"""Recurrent layers: RNN, LSTM, GRU over whole sequences, and their one-step cells.

Each layer direction runs as one fused primitive (``chainrule.ops.recurrent``); the layers here
hold the weights under PyTorch's names and handle the input forms PyTorch accepts: time-major or
``batch_first``, unbatched, and ``PackedSequence``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from chainrule.creation import empty
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence
from chainrule.ops import recurrent as R
from chainrule.ops.shape import index_select
from chainrule.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _add_weights(module: Any, suffix: str, gates: int, input_size: int, hidden_size: int,
                 bias: bool, dtype: Any) -> list[str]:
    """Create weight_ih, weight_hh (and bias_ih, bias_hh) + suffix; return their names."""
    shapes: dict[str, tuple[int, ...]] = {"weight_ih": (gates * hidden_size, input_size),
              "weight_hh": (gates * hidden_size, hidden_size)}
    if bias:
        shapes.update(bias_ih=(gates * hidden_size,), bias_hh=(gates * hidden_size,))
    for name, shape in shapes.items():
        module.register_parameter(name + suffix, Parameter(empty(*shape, dtype=dtype)))
    if not bias and not suffix:
        module.register_parameter("bias_ih", None)
        module.register_parameter("bias_hh", None)
    return [name + suffix for name in shapes]


def _reset(module: Any) -> None:
    # NOTE: PyTorch's default: every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden)).
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


class _RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (use those)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = "RNN" if mode.startswith("RNN") else mode
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent "
                          "layer, so non-zero dropout expects num_layers greater than 1, but "
                          f"got dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: {arg} must be an integer greater than zero, got "
                                 f"{value!r}")
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size={proj_size} (LSTM with projections) "
                                      "is not implemented in chainrule; use proj_size=0")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        dirs = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(dirs):
                size = input_size if layer == 0 else hidden_size * dirs
                self._flat_weights_names += _add_weights(
                    self, f"_l{layer}" + ("_reverse" if d else ""), _GATES[mode], size,
                    hidden_size, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i:i + per] for i in range(0, len(ws), per)]

    def _weights(self) -> list[tuple]:
        return [tuple(w) if self.bias else (w[0], w[1], None, None) for w in self.all_weights]

    def _state(self, hx, batch: int, batched: bool, what: str) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        want = 3 if batched else 2
        if hx.ndim != want:
            kind = "batched" if batched else "unbatched"
            raise RuntimeError(f"{type(self).__name__}: for {kind} {want}-D input, {what} should "
                               f"also be {want}-D but got shape {hx.shape}")
        if not batched:
            hx = hx.unsqueeze(1)
        expected = (self.num_layers * dirs, batch, self.hidden_size)
        if hx.shape != expected:
            raise RuntimeError(f"{type(self).__name__}: expected {what} of size {expected}, "
                               f"got {hx.shape}")
        return hx

    def forward(self, input, hx=None):
        """``(output, h_n)`` (RNN, GRU) or ``(output, (h_n, c_n))`` (LSTM); see the classes."""
        name = type(self).__name__
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            x, sizes, sorted_indices, unsorted_indices = input
            batch_sizes = tuple(int(b) for b in sizes.tolist())
            batch, batched = batch_sizes[0], True
            if x.ndim != 2:
                raise ValueError(f"{name}: packed data should be 2-D, got shape {x.shape}")
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: expected input to be 2-D (unbatched) or 3-D, got "
                                 f"shape {input.shape}")
            batch_sizes, sorted_indices = None, None
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            batch = x.shape[1]
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        w = getattr(self, self._flat_weights_names[0])
        if x.dtype != w.dtype:
            raise ValueError(f"{name}: input dtype ({x.dtype}) does not match weight dtype "
                             f"({w.dtype}); convert the input or the model (model.to(...))")
        if hx is not None:
            if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{name}: hx should be a pair (h_0, c_0) of tensors, got "
                                f"{type(hx).__name__}")
            hs = hx if lstm else (hx,)
            hs = [self._state(h, batch, batched, what) for h, what in zip(hs, ("h_0", "c_0"))]
            if sorted_indices is not None:
                hs = [index_select(h, 1, sorted_indices) for h in hs]
            hx = tuple(hs) if lstm else hs[0]
        out, state = R.recurrent(self.mode, x, hx, self._weights(), self.num_layers,
                                 self.dropout, self.training, self.bidirectional, batch_sizes)
        states = state if lstm else (state,)
        if packed:
            if unsorted_indices is not None:
                states = [index_select(s, 1, unsorted_indices) for s in states]
            out = PackedSequence(out, sizes, sorted_indices, unsorted_indices)
        elif not batched:
            out = out.squeeze(1)
            states = [s.squeeze(1) for s in states]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (tuple(states) if lstm else states[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(_RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        num_layers: stacked recurrent layers (default 1).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        bias: whether to learn ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are (B, T, *) instead of (T, B, *) (``h_n`` is not).
        dropout: dropout probability on every layer's output but the last's, in training.
        bidirectional: also run each layer backwards in time and concatenate the two.

    Shape:
        input (T, B, H_in), (B, T, H_in) with batch_first, (T, H_in) unbatched, or a
        ``PackedSequence``; h_0 (D * num_layers, B, H) or (D * num_layers, H), zeros if not
        given (D = 2 if bidirectional else 1) -> output (T, B, D * H) (like the input's
        layout), h_n (D * num_layers, B, H).

    Weights ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``*_reverse``) start as U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), PyTorch's default.

    >>> import chainrule
    >>> rnn = chainrule.nn.RNN(10, 20, 2)
    >>> output, hn = rnn(chainrule.randn(5, 3, 10), chainrule.randn(2, 3, 20))
    >>> output.shape, hn.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(_RNNBase):
    """Long short-term memory: gates ``i, f, g, o`` (in that order in the weights' rows),
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as for :class:`RNN`.
        proj_size: must be 0 (projections are not implemented).

    Shape:
        As :class:`RNN`, with the state a pair: ``forward(input, (h_0, c_0))`` returns
        ``(output, (h_n, c_n))``.

    >>> import chainrule
    >>> lstm = chainrule.nn.LSTM(10, 20, 2, batch_first=True)
    >>> output, (hn, cn) = lstm(chainrule.randn(3, 5, 10))
    >>> output.shape, hn.shape, cn.shape
    ((3, 5, 20), (2, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit: gates ``r, z, n`` (in that order in the weights' rows),
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as for :class:`RNN`.

    Shape:
        As :class:`RNN`.

    >>> import chainrule
    >>> gru = chainrule.nn.GRU(10, 20, bidirectional=True)
    >>> output, hn = gru(chainrule.randn(5, 3, 10))
    >>> output.shape, hn.shape
    ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)


# --- cells: one time step ---


def _cell_init(cell: Any, input_size: int, hidden_size: int, bias: bool, gates: int,
               dtype: Any) -> None:
    cell.input_size, cell.hidden_size, cell.bias = input_size, hidden_size, bias
    _add_weights(cell, "", gates, input_size, hidden_size, bias, dtype)
    _reset(cell)


def _cell_args(name: str, input: Tensor, hx) -> tuple[Tensor, Any, bool]:
    if input.ndim not in (1, 2):
        raise ValueError(f"{name}: expected input to be 1-D or 2-D, got shape {input.shape}")
    batched = input.ndim == 2
    for h in hx if isinstance(hx, tuple) else (hx,):
        if h is not None and h.ndim != input.ndim:
            raise ValueError(f"{name}: expected the state to be {input.ndim}-D like the input "
                             f"{input.shape}, got shape {h.shape}")
    if batched:
        return input, hx, True
    if isinstance(hx, tuple):
        hx = tuple(h.unsqueeze(0) for h in hx)
    elif hx is not None:
        hx = hx.unsqueeze(0)
    return input.unsqueeze(0), hx, False


def _cell_repr(cell: Any) -> str:
    s = f"{cell.input_size}, {cell.hidden_size}"
    if cell.bias is not True:
        s += f", bias={cell.bias}"
    if getattr(cell, "nonlinearity", "tanh") != "tanh":
        s += f", nonlinearity={cell.nonlinearity}"
    return s


class RNNCell(Module):
    """One step of an Elman RNN: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        bias: whether to learn ``bias_ih`` and ``bias_hh`` (default True).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.

    Shape:
        input (B, H_in) or (H_in), hx (B, H) or (H) (zeros if not given) -> h' like hx.

    >>> import chainrule
    >>> cell = chainrule.nn.RNNCell(10, 20)
    >>> cell(chainrule.randn(3, 10)).shape
    (3, 20)
    """

    input_size: int
    hidden_size: int
    bias: bool
    weight_ih: Parameter
    weight_hh: Parameter
    bias_ih: Parameter | None
    bias_hh: Parameter | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity '{nonlinearity}'. Select from "
                             "'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        _cell_init(self, input_size, hidden_size, bias, 1, dtype)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = _cell_args("RNNCell", input, hx)
        step = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        out = step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else out.squeeze(0)

    def extra_repr(self) -> str:
        return _cell_repr(self)


class LSTMCell(Module):
    """One LSTM step: ``(h', c')`` from the input and ``(h, c)``.

    Args:
        input_size: features of the input.
        hidden_size: features of the states.
        bias: whether to learn ``bias_ih`` and ``bias_hh`` (default True).

    Shape:
        input (B, H_in) or (H_in), hx a pair of (B, H) or (H) (zeros if not given) -> a pair
        like hx.

    >>> import chainrule
    >>> cell = chainrule.nn.LSTMCell(10, 20)
    >>> h, c = cell(chainrule.randn(3, 10))
    >>> h.shape, c.shape
    ((3, 20), (3, 20))
    """

    input_size: int
    hidden_size: int
    bias: bool
    weight_ih: Parameter
    weight_hh: Parameter
    bias_ih: Parameter | None
    bias_hh: Parameter | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _cell_init(self, input_size, hidden_size, bias, 4, dtype)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        x, h, batched = _cell_args("LSTMCell", input, None if hx is None else tuple(hx))
        h, c = R.lstm_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))

    def extra_repr(self) -> str:
        return _cell_repr(self)


class GRUCell(Module):
    """One GRU step: the new hidden state from the input and ``h``.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        bias: whether to learn ``bias_ih`` and ``bias_hh`` (default True).

    Shape:
        input (B, H_in) or (H_in), hx (B, H) or (H) (zeros if not given) -> h' like hx.

    >>> import chainrule
    >>> cell = chainrule.nn.GRUCell(10, 20)
    >>> cell(chainrule.randn(3, 10)).shape
    (3, 20)
    """

    input_size: int
    hidden_size: int
    bias: bool
    weight_ih: Parameter
    weight_hh: Parameter
    bias_ih: Parameter | None
    bias_hh: Parameter | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _cell_init(self, input_size, hidden_size, bias, 3, dtype)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = _cell_args("GRUCell", input, hx)
        out = R.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else out.squeeze(0)

    def extra_repr(self) -> str:
        return _cell_repr(self)
