"""Pooling layers: MaxPool1d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.

Arguments are kept as given (an int stays an int), as PyTorch prints them.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.pool.avg import _adaptive_avg_pool, _avg_pool
from chainrule.ops.pool.max import _max_pool
from chainrule.tensor import Tensor


class _MaxPoolNd(Module):
    """What MaxPool1d and MaxPool2d share: arguments and repr."""

    _n: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return _max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation,
                         self.ceil_mode, self.return_indices, self._n,
                         f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling: the largest value of each window.

    Args:
        kernel_size: window length.
        stride: step between windows (default: kernel_size).
        padding: -inf added on both sides (at most kernel_size // 2; default 0).
        dilation: spacing between window elements (default 1).
        return_indices: also return each maximum's index along L (for MaxUnpool).
        ceil_mode: round the output length up instead of down (default False).

    Shape:
        input (N, C, L) or (C, L) -> output (N, C, L_out) or (C, L_out), with
        ``L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1``
        (rounded up in ceil mode).

    >>> import chainrule
    >>> chainrule.nn.MaxPool1d(3, stride=2)(chainrule.randn(20, 16, 50)).shape
    (20, 16, 24)
    """

    _n = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling: the largest value of each window.

    Args:
        kernel_size: window size (int or pair).
        stride: step between windows (default: kernel_size).
        padding: -inf added on every side (at most kernel_size // 2; default 0).
        dilation: spacing between window elements (default 1).
        return_indices: also return each maximum's flat index ``h * W + w`` in its plane.
        ceil_mode: round the output size up instead of down (default False).

    Shape:
        input (N, C, H, W) or (C, H, W) -> output (N, C, H_out, W_out) or (C, H_out, W_out),
        with ``H_out = (H + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) //
        stride[0] + 1`` (rounded up in ceil mode) and likewise W_out.

    >>> import chainrule
    >>> chainrule.nn.MaxPool2d((3, 2), stride=(2, 1))(chainrule.randn(20, 16, 50, 32)).shape
    (20, 16, 24, 31)
    """

    _n = 2


class AvgPool2d(Module):
    """2-D average pooling: the mean of each window.

    Args:
        kernel_size: window size (int or pair).
        stride: step between windows (default: kernel_size).
        padding: zeros added on every side (at most kernel_size // 2; default 0).
        ceil_mode: round the output size up instead of down (default False).
        count_include_pad: count the padding zeros in the divisor (default True).
        divisor_override: divide every window's sum by this instead (default None).

    Shape:
        input (N, C, H, W) or (C, H, W) -> output (N, C, H_out, W_out) or (C, H_out, W_out),
        with ``H_out = (H + 2 * padding[0] - kernel_size[0]) // stride[0] + 1`` (rounded up in
        ceil mode) and likewise W_out.

    >>> import chainrule
    >>> chainrule.nn.AvgPool2d(3, stride=2)(chainrule.randn(20, 16, 50, 32)).shape
    (20, 16, 24, 15)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return _avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad, self.divisor_override,
                         f"AvgPool2d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """2-D average pooling to a fixed output size, whatever the input size.

    Args:
        output_size: (H_out, W_out), or one int for both; an entry None keeps that input size.

    Shape:
        input (N, C, H, W) or (C, H, W) -> output (N, C, H_out, W_out) or (C, H_out, W_out).
        Output row i averages input rows floor(i * H / H_out) to ceil((i + 1) * H / H_out) - 1.

    >>> import chainrule
    >>> chainrule.nn.AdaptiveAvgPool2d((5, 7))(chainrule.randn(1, 64, 8, 9)).shape
    (1, 64, 5, 7)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return _adaptive_avg_pool(input, self.output_size,
                                  f"AdaptiveAvgPool2d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
