"""Normalisation layers: BatchNorm1d/2d/3d, LayerNorm, GroupNorm."""

from __future__ import annotations

from typing import Any

from chainrule import _dtype
from chainrule.creation import empty, ones, tensor, zeros
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.norm import batch_norm, group_norm, layer_norm
from chainrule.tensor import Tensor


class _BatchNorm(Module):
    """The shared body of BatchNorm1d/2d/3d; subclasses only name the input dims they accept."""

    _dims: tuple[int, ...] = ()
    _expected = ""
    # Registered in __init__ (None when not affine / not tracking); declared for type checkers.
    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=_dtype.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            for buf, value in ((self.running_mean, 0), (self.running_var, 1),
                               (self.num_batches_tracked, 0)):
                assert buf is not None, "tracking running stats, so the buffers exist"
                buf._data[...] = value

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:  # affine
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._dims:
            raise ValueError(f"{type(self).__name__}: expected {self._expected} input, got "
                             f"{input.ndim}D input of shape {tuple(input.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = self.num_batches_tracked
            assert tracked is not None, "tracking running stats, so the counter exists"
            tracked._data += 1
            if self.momentum is None:
                # NOTE: momentum=None is the cumulative average: batch k gets weight 1/k.
                momentum = 1.0 / int(tracked._data)
        # NOTE: batch statistics in training, and in eval too when no running stats are kept.
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C.

    In training, each channel is normalised with the batch's mean and biased variance and the
    running statistics are updated (``running = (1 - momentum) * running + momentum * stat``,
    with the unbiased variance; ``momentum=None`` keeps a cumulative average). In eval mode the
    running statistics normalise.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1), or None.
        affine: learn a per-channel weight (ones) and bias (zeros) (default True).
        track_running_stats: keep running statistics; if False, batch statistics are used in
            eval mode too (default True).
        bias: learn the bias when ``affine`` (default True).

    Shape:
        input (N, C) or (N, C, L) -> output of the same shape.

    >>> import chainrule
    >>> m = chainrule.nn.BatchNorm1d(100)
    >>> m(chainrule.randn(20, 100)).shape
    (20, 100)
    """

    _dims = (2, 3)
    _expected = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C.

    Args and behaviour as :class:`BatchNorm1d`.

    Shape:
        input (N, C, H, W) -> output of the same shape.

    >>> import chainrule
    >>> m = chainrule.nn.BatchNorm2d(16)
    >>> m(chainrule.randn(4, 16, 8, 8)).shape
    (4, 16, 8, 8)
    """

    _dims = (4,)
    _expected = "4D"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, per channel C.

    Args and behaviour as :class:`BatchNorm1d`.

    Shape:
        input (N, C, D, H, W) -> output of the same shape.

    >>> import chainrule
    >>> chainrule.nn.BatchNorm3d(3)(chainrule.randn(2, 3, 2, 4, 4)).shape
    (2, 3, 2, 4, 4)
    """

    _dims = (5,)
    _expected = "5D"


def _affine(m: LayerNorm | GroupNorm, shape: tuple[int, ...], affine: bool, bias: bool,
            dtype: Any) -> None:
    """Register a norm layer's weight (ones) and bias (zeros), or None where absent."""
    m.register_parameter("weight", Parameter(empty(shape, dtype=dtype)) if affine else None)
    m.register_parameter("bias", Parameter(empty(shape, dtype=dtype)) if affine and bias
                         else None)
    m.reset_parameters()


def _reset_affine(m: LayerNorm | GroupNorm) -> None:
    if m.weight is not None:
        init.ones_(m.weight)
    if m.bias is not None:
        init.zeros_(m.bias)


class LayerNorm(Module):
    """Normalises each sample over its last dims, then applies an elementwise affine map.

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last dim).
        eps: added to the variance for stability (default 1e-5).
        elementwise_affine: learn a weight (ones) and bias (zeros) of that shape (default True).
        bias: learn the bias when ``elementwise_affine`` (default True).

    Shape:
        input (*, *normalized_shape) -> output of the same shape.

    >>> import chainrule
    >>> m = chainrule.nn.LayerNorm(10)
    >>> m(chainrule.randn(20, 5, 10)).shape
    (20, 5, 10)
    """

    weight: Parameter | None  # registered by _affine; declared for type checkers
    bias: Parameter | None

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalises each sample's channels in groups, then applies a per-channel affine map.

    Args:
        num_groups: number of groups the channels are split into.
        num_channels: C, which ``num_groups`` must divide.
        eps: added to the variance for stability (default 1e-5).
        affine: learn a per-channel weight (ones) and bias (zeros) (default True).
        bias: learn the bias when ``affine`` (default True).

    Shape:
        input (N, C, *) -> output of the same shape.

    >>> import chainrule
    >>> m = chainrule.nn.GroupNorm(3, 6)
    >>> m(chainrule.randn(20, 6, 10, 10)).shape
    (20, 6, 10, 10)
    """

    weight: Parameter | None  # registered by _affine; declared for type checkers
    bias: Parameter | None

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine(self, (num_channels,), affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
