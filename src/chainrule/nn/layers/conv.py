"""Convolution layers: Conv1d, Conv2d and ConvTranspose2d, on one abstract base ``_ConvNd``."""

from __future__ import annotations

import math
from typing import Any

from chainrule.creation import empty
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.conv._args import _ntuple
from chainrule.ops.conv.convolution import _conv, _conv_transpose, conv_transpose_out_size
from chainrule.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What every convolution layer shares: arguments, parameters, initialisation and repr.

    The weight is (out_channels, in_channels / groups, *kernel_size), or (in_channels,
    out_channels / groups, *kernel_size) when ``transposed``, as in PyTorch.
    """

    _n: int  # the number of spatial dims

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, transposed: bool, output_padding: Any, groups: int,
                 bias: bool, padding_mode: str, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name, n = type(self).__name__, self._n
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by "
                             f"groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by "
                             f"groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not "
                                      "implemented; only 'zeros' is")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name, 1)
        self.stride = _ntuple(stride, n, "stride", name, 1)
        self.dilation = _ntuple(dilation, n, "dilation", name, 1)
        self.padding: Any  # 'same' / 'valid' or a tuple of ints
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple "
                                 f"of {n} ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name, 0)
        self.transposed = transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding", name, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # NOTE: PyTorch's default: kaiming_uniform_ with a=sqrt(5), i.e. U(-b, b) with
        # b = 1/sqrt(fan_in), fan_in = weight.shape[1] * prod(kernel_size); the bias likewise.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _where(self) -> str:
        """The layer as errors name it: ``Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1))``."""
        return f"{type(self).__name__}({self.extra_repr()})"


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) over a batch of sequences.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (number of filters).
        kernel_size: length of the kernel (int or 1-tuple).
        stride: step between windows (default 1).
        padding: zeros added on both sides: an int, a 1-tuple, 'valid' (none) or 'same'
            (output as long as the input; stride 1 only).
        dilation: spacing between kernel elements (default 1).
        groups: split channels into this many independent groups (default 1).
        bias: whether to learn an additive bias (default True).
        padding_mode: only 'zeros' is implemented.

    Shape:
        input (N, C_in, L) or (C_in, L) -> output (N, C_out, L_out) or (C_out, L_out), with
        ``L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1``.

    Weight (out_channels, in_channels / groups, kernel_size) and bias start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels / groups * kernel_size.

    >>> import chainrule
    >>> m = chainrule.nn.Conv1d(16, 33, 3, stride=2)
    >>> m(chainrule.randn(20, 16, 50)).shape
    (20, 33, 24)
    """

    _n = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return self._forward(input)

    def _forward(self, input: Tensor, relu: bool = False) -> Tensor:
        """forward, rectified if ``relu`` (a ReLU after it, fused by nn.Sequential)."""
        return _conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                     self.groups, 1, self._where(), relu)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over a batch of images.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (number of filters).
        kernel_size: size of the kernel (int or pair).
        stride: step between windows (int or pair, default 1).
        padding: zeros added on every side: an int, a pair, 'valid' (none) or 'same' (output as
            large as the input; stride 1 only).
        dilation: spacing between kernel elements (int or pair, default 1).
        groups: split channels into this many independent groups (default 1).
        bias: whether to learn an additive bias (default True).
        padding_mode: only 'zeros' is implemented.

    Shape:
        input (N, C_in, H, W) or (C_in, H, W) -> output (N, C_out, H_out, W_out) or
        (C_out, H_out, W_out), with
        ``H_out = (H + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1``
        and likewise W_out.

    Weight (out_channels, in_channels / groups, kH, kW) and bias start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels / groups * kH * kW.

    >>> import chainrule
    >>> m = chainrule.nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
    >>> m(chainrule.randn(20, 16, 50, 100)).shape
    (20, 33, 28, 100)
    """

    _n = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return self._forward(input)

    def _forward(self, input: Tensor, relu: bool = False) -> Tensor:
        """forward, rectified if ``relu`` (a ReLU after it, fused by nn.Sequential)."""
        return _conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                     self.groups, 2, self._where(), relu)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution: the gradient of Conv2d with respect to its input, used to
    upsample.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: size of the kernel (int or pair).
        stride: upsampling step (int or pair, default 1).
        padding: ``dilation * (kernel_size - 1) - padding`` zeros are added to the input's sides
            (int or pair, default 0).
        output_padding: extra rows/columns at the bottom/right of the output (int or pair,
            default 0); must be smaller than stride or dilation.
        groups: split channels into this many independent groups (default 1).
        bias: whether to learn an additive bias (default True).
        dilation: spacing between kernel elements (int or pair, default 1).
        padding_mode: only 'zeros' is supported.

    Shape:
        input (N, C_in, H, W) or (C_in, H, W) -> output (N, C_out, H_out, W_out) or
        (C_out, H_out, W_out), with ``H_out = (H - 1) * stride[0] - 2 * padding[0] +
        dilation[0] * (kernel_size[0] - 1) + output_padding[0] + 1`` and likewise W_out.
        ``forward(input, output_size)`` picks output_padding to reach ``output_size``.

    Weight (in_channels, out_channels / groups, kH, kW) and bias start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = out_channels / groups * kH * kW.

    >>> import chainrule
    >>> m = chainrule.nn.ConvTranspose2d(16, 33, 3, stride=2)
    >>> m(chainrule.randn(20, 16, 50, 100)).shape
    (20, 33, 101, 201)
    """

    _n = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair of ints, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return _conv_transpose(input, self.weight, self.bias, self.stride, self.padding,
                               output_padding, self.groups, self.dilation, 2, self._where())

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """output_padding, or the one that gives ``output_size`` (which may include N and C)."""
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)
        spatial = input.shape[-2:]
        if len(size) == input.ndim:
            size = size[-2:]
        if len(size) != 2:
            raise ValueError(f"{self._where()}: output_size must have 2 or {input.ndim} "
                             f"elements, got {tuple(output_size)}")
        smallest = tuple(conv_transpose_out_size(n, k, s, p, 0, d) for n, k, s, p, d in
                         zip(spatial, self.kernel_size, self.stride, self.padding,
                             self.dilation))
        largest = tuple(lo + s - 1 for lo, s in zip(smallest, self.stride))
        if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"{self._where()}: requested an output size of {size}, but valid "
                             f"sizes range from {smallest} to {largest} (for an input of "
                             f"{spatial})")
        return tuple(n - lo for n, lo in zip(size, smallest))
