"""What the poolings share: output sizes, padding, per-offset slices, memory layouts and the
argument checks.

Max and average pooling loop over the kernel offsets: offset (i, j) of every window is one
strided slice of the (padded) input, so a pooling is kh * kw whole-array ufunc calls, and the
backward scatters through the same slices (no ``np.add.at``). With kernel == stride this touches
each input element once. A 1-D pooling runs as a 2-D one over a height of 1.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.conv._args import _ntuple
from chainrule.ops.conv._im2col import _window
from chainrule.tensor import Tensor

# --- geometry ---


def _pool_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length; in ceil mode the last window must start inside the
    input or its left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _channels_last(x: np.ndarray) -> bool:
    """Whether x (N, C, H, W) is laid out channels-last in memory (as convolutions return it)."""
    return x.strides[1] < x.strides[3]


def _new(shape: tuple[int, ...], dtype, channels_last: bool, value: float | None = None
         ) -> np.ndarray:
    """A new (N, C, H, W) array in the given memory layout (so that elementwise work on it and
    on its neighbours runs over contiguous memory), filled with ``value`` unless None."""
    n, c, h, w = shape
    a = np.empty((n, h, w, c) if channels_last else shape, dtype)
    if value is not None:
        a.fill(value)
    return a.transpose(0, 3, 1, 2) if channels_last else a


def _in_layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """a (N, C, H, W) in the given memory layout (a copy only if it is in the other one)."""
    if _channels_last(a) == channels_last:
        return a
    if channels_last:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(a)


def _padded(x: np.ndarray, kernel, stride, padding, dilation, out_hw, value: float) -> np.ndarray:
    """x padded by ``padding`` with ``value``, and further at the bottom/right as far as the
    last window reaches (ceil mode); x itself when no padding is needed."""
    H, W = x.shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel, stride, padding, dilation, out_hw
    hp = max(H + 2 * ph, (ho - 1) * sh + dh * (kh - 1) + 1)
    wp = max(W + 2 * pw, (wo - 1) * sw + dw * (kw - 1) + 1)
    if (hp, wp) == (H, W):
        return x
    xp = _new((*x.shape[:2], hp, wp), x.dtype, _channels_last(x), value)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _slices(xp: np.ndarray, kernel, stride, dilation, out_hw) -> list[np.ndarray]:
    """One strided view of xp per kernel offset, in row-major order over the window."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    return [xp[:, :, _window(i * dh, sh, ho), _window(j * dw, sw, wo)]
            for i in range(kh) for j in range(kw)]


def _disjoint(kernel, stride, dilation) -> bool:
    """Whether the slices of different kernel offsets never share an element."""
    return all(d == 1 and s >= k for k, s, d in zip(kernel, stride, dilation))


def _tiles(xp_shape, kernel, stride, dilation, out_hw) -> bool:
    """Whether the windows cover every element of xp exactly once (kernel == stride)."""
    return all(d == 1 and s == k and o * s == n
               for n, k, s, d, o in zip(xp_shape[2:], kernel, stride, dilation, out_hw))


def _sample_bytes(a: np.ndarray) -> int:
    """The bytes of one sample of a batch (at least 1, so that empty samples still make
    chunks)."""
    return max(1, a[0].size * a.itemsize) if len(a) else 0


def _crop(gxp: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The unpadded part (top, left, H, W) of a padded gradient."""
    t, left, H, W = crop
    return gxp if gxp.shape[2:] == (H, W) else gxp[:, :, t:t + H, left:left + W]


# --- argument checking ---


def _check_pool_input(input, n: int, where: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (n + 1, n + 2):
        dims = "(N, C, L)" if n == 1 else "(N, C, H, W)"
        raise ValueError(f"{where}: expected a {n + 2}-D input {dims} or a {n + 1}-D unbatched "
                         f"one, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating-point input, got {input.dtype}")


def _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, n: int, where: str):
    kernel = _ntuple(kernel_size, n, "kernel_size", where, 1)
    stride = kernel if stride is None or stride == [] else _ntuple(stride, n, "stride", where, 1)
    padding = _ntuple(padding, n, "padding", where, 0)
    dilation = _ntuple(dilation, n, "dilation", where, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{where}: padding {padding} must be at most half of kernel_size "
                         f"{kernel}")
    size = input.shape[-n:]
    out = tuple(_pool_len(*a, bool(ceil_mode)) for a in zip(size, kernel, stride, padding,
                                                              dilation))
    if any(o <= 0 for o in out):
        raise ValueError(f"{where}: output size {out} is not positive: input of shape "
                         f"{input.shape} is too small for kernel_size {kernel} with padding "
                         f"{padding} and dilation {dilation}")
    if n == 1:
        return (1, *kernel), (1, *stride), (0, *padding), (1, *dilation), (1, *out)
    return kernel, stride, padding, dilation, out
