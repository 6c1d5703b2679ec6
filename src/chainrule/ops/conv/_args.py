"""Argument checking shared by the convolutions (and the poolings): int-or-tuple arguments,
padding, shapes and dtypes, each error naming the op, what it received and what it expected."""

from __future__ import annotations

import numpy as np

from chainrule.ops.conv._im2col import Pads
from chainrule.tensor import Tensor


def _ntuple(value, n: int, name: str, where: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (each at least ``minimum``) as an n-tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value),) * n
    else:
        try:
            t = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{where}: {name} must be an int or a tuple of {n} ints, "
                            f"got {value!r}") from None
        if len(t) == 1:
            t = t * n
        if len(t) != n:
            raise ValueError(f"{where}: {name} must be an int or a tuple of {n} ints, "
                             f"got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return t


def _conv_pads(padding, k: tuple[int, ...], stride: tuple[int, ...],
               dilation: tuple[int, ...], where: str) -> Pads:
    """(top, bottom, left, right) for ``padding`` given as 'valid', 'same', an int or a tuple."""
    n = len(k)
    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{where}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            # NOTE: an odd total padding puts the extra row/column at the bottom/right, as
            # PyTorch does.
            totals = [d * (kk - 1) for d, kk in zip(dilation, k)]
            pairs = [(tot // 2, tot - tot // 2) for tot in totals]
        else:
            raise ValueError(f"{where}: padding must be 'valid', 'same', an int or a tuple of "
                             f"{n} ints, got {padding!r}")
    else:
        pairs = [(p, p) for p in _ntuple(padding, n, "padding", where, 0)]
    if n == 1:
        pairs = [(0, 0), *pairs]
    return (*pairs[0], *pairs[1])


def _check_conv(input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, n: int,
                where: str, transposed: bool = False) -> None:
    dims = "(N, C, L)" if n == 1 else "(N, C, H, W)"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{where}: input and weight must be Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if weight.ndim != n + 2:
        raise ValueError(f"{where}: weight must have {n + 2} dims, got shape {weight.shape}")
    if input.ndim not in (n + 1, n + 2):
        raise ValueError(f"{where}: expected a {n + 2}-D input {dims} or a {n + 1}-D unbatched "
                         f"one, got shape {input.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive integer, got {groups!r}")
    channels = input.shape[-n - 1]
    if transposed:
        expected, out_channels = weight.shape[0], weight.shape[1] * groups
        if weight.shape[0] % groups:
            raise ValueError(f"{where}: groups={groups} does not divide the weight's "
                             f"in_channels {weight.shape[0]} (weight shape {weight.shape})")
    else:
        expected, out_channels = weight.shape[1] * groups, weight.shape[0]
        if weight.shape[0] % groups:
            raise ValueError(f"{where}: groups={groups} does not divide out_channels "
                             f"{weight.shape[0]} (weight shape {weight.shape})")
    if channels != expected:
        raise ValueError(f"{where}: input of shape {input.shape} has {channels} channels, but "
                         f"weight of shape {weight.shape} with groups={groups} expects "
                         f"{expected}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{where}: bias of shape {bias.shape} does not match "
                         f"out_channels={out_channels} (expected ({out_channels},))")
    if input.dtype.kind != "f" or input.dtype != weight.dtype or (
            bias is not None and bias.dtype != weight.dtype):
        raise TypeError(
            f"{where}: input ({input.dtype}), weight ({weight.dtype})"
            f"{'' if bias is None else f' and bias ({bias.dtype})'} must share one "
            "floating-point dtype (convert the input, or call model.double())")


def _check_out(out: tuple[int, ...], input: Tensor, kernel: tuple[int, ...], where: str) -> None:
    if any(o <= 0 for o in out):
        raise ValueError(f"{where}: output size {out} is not positive: input of shape "
                         f"{input.shape} is too small for kernel {kernel} with this padding, "
                         "stride and dilation")


def _batched(input: Tensor, n: int) -> tuple[Tensor, bool]:
    """The input with a batch dim (an unbatched (C, *spatial) input gets one)."""
    if input.ndim == n + 1:
        return input.unsqueeze(0), True
    return input, False
