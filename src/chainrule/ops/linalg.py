"""Matrix products: one primitive covering every shape ``matmul`` accepts; Linear layers
(``linear``, ``linear_relu``, and ``linear_chain`` for runs of them under no_grad)."""

from __future__ import annotations

import math

import numpy as np

from chainrule import _mkl
from chainrule.autograd.engine import sum_leading
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.ops.elementwise import _prepare
from chainrule.ops.elementwise.rectifier import relu_array, relu_grad_array
from chainrule.tensor import Tensor


def _mT(x: np.ndarray) -> np.ndarray:  # noqa: N802
    return np.swapaxes(x, -1, -2)


def _batch_times_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a batch ``a`` (..., n, k) and one matrix ``b`` (k, m), as a single GEMM."""
    # NOTE: NumPy's matmul runs one GEMM per matrix of the batch; stacking the batch into the
    # rows of one GEMM is several times faster when the matrices are small.
    rows = math.prod(a.shape[:-1])
    return _mkl.matmul(a.reshape(rows, a.shape[-1]), b).reshape(*a.shape[:-1], b.shape[-1])


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        if a.ndim > 2 and b.ndim == 2:
            return _batch_times_matrix(a, b)
        if a.ndim == 2 and b.ndim == 2:
            return _mkl.matmul(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.a, ctx.b
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshapes
            if na and nb:
                return _mkl.matmul_pair(grad, b.T, a.T, grad)
            if na:
                ga = _mkl.matmul(grad, b.T)
            if nb:
                gb = _mkl.matmul(a.T, grad)
            return ga, gb
        # NOTE: 1-D operands are promoted to matrices (a row for a, a column for b) as in
        # NumPy's matmul, and the promoted axis is removed from their gradients again.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        if na:
            if b2.ndim == 2 and a.ndim > 2:
                ga = _batch_times_matrix(g, b2.T)
            else:
                ga = g @ _mT(b2)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if nb:
            if b2.ndim == 2 and a2.ndim > 2:
                # NOTE: a shared matrix times a batch: one GEMM over the merged batch instead of
                # a batch of GEMMs summed afterwards.
                rows = math.prod(a2.shape[:-1])  # not -1, which is ambiguous for empty arrays
                gb = _mkl.matmul(a2.reshape(rows, a2.shape[-1]).T, g.reshape(rows, g.shape[-1]))
            else:
                gb = _mT(a2) @ g
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(input, other):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast.

    >>> import chainrule
    >>> (chainrule.ones(2, 3) @ chainrule.ones(3, 4)).shape
    (2, 4)
    """
    a, b = _prepare(input, other)
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        raise RuntimeError(f"matmul: both arguments must be tensors, got {type(input).__name__} "
                           f"and {type(other).__name__}")
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise RuntimeError(
            f"matmul: shapes {sa} and {sb} cannot be multiplied ({ka} != {kb}: the last dim of "
            f"the first must equal the {'only' if len(sb) == 1 else 'second-to-last'} dim of the "
            "second)"
        )
    if len(sa) > 2 and len(sb) > 2:  # otherwise one side has no batch dims to disagree
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise RuntimeError(f"matmul: batch dims of {sa} and {sb} do not broadcast") from None
    return MatMul.apply(a, b)


def mm(input, mat2):
    """Product of two matrices (2-D only)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected two 2-D tensors, got {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched product of (b, n, m) and (b, m, p) tensors."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expected (b, n, m) and (b, m, p), got {input.shape} and "
                           f"{mat2.shape}")
    return matmul(input, mat2)


def dot(input, other):
    """Inner product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expected two 1-D tensors, got {input.shape} and {other.shape}")
    return matmul(input, other)


def outer(input, vec2):
    return matmul(input.reshape(-1, 1), vec2.reshape(1, -1))



def _linear_forward(ctx, x, w, b, relu):
    """``x @ w.T + b`` (b may be None), rectified if ``relu``; saves what the backward needs."""
    ctx.x, ctx.w = x, w
    x2 = x if x.ndim == 2 else x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
    y = _mkl.addmm_relu(b, x2, w.T) if relu else None
    if y is None:
        y = _mkl.matmul(x2, w.T) if b is None else _mkl.addmm(b, x2, w.T)
        if relu:
            y = relu_array(y)
    return y if x.ndim == 2 else y.reshape(*x.shape[:-1], w.shape[0])


def _linear_backward(ctx, grad):
    """The gradients of x, w and b for the output's ``grad`` (ctx as ``_linear_forward``
    left it)."""
    x, w = ctx.x, ctx.w
    nx, nw, nb = ctx.needs_input_grad
    # as matrices: every leading dim of the input is a row (not -1: ambiguous when empty)
    rows = math.prod(grad.shape[:-1])
    g2 = grad.reshape(rows, grad.shape[-1])
    gx = gw = gb = None
    if nw:
        x2 = x.reshape(rows, x.shape[-1])
        if nx:  # the two products side by side
            gx, gw = _mkl.matmul_pair(g2, w, g2.T, x2)
        else:
            gw = _mkl.matmul(g2.T, x2)
    elif nx:
        gx = _mkl.matmul(g2, w)
    if gx is not None:
        gx = gx.reshape(x.shape)
    if nb:
        gb = sum_leading(g2, 1)
    return gx, gw, gb


class Linear(Function):
    # NOTE: fused x @ W.T + b: one GEMM forward (the bias added by it, see _mkl.addmm), two
    # backward; every leading dim of the input is a row of one GEMM.
    @staticmethod
    def forward(ctx, x, w, b):
        return _linear_forward(ctx, x, w, b, False)

    @staticmethod
    def backward(ctx, grad):
        return _linear_backward(ctx, grad)


class LinearReLU(Function):
    # NOTE: relu(x @ W.T + b), a Linear layer and the ReLU after it (see nn.Sequential): the
    # threads that compute the product's rows rectify them while they are in their caches
    # (_mkl.addmm), which saves relu's pass over the output and its hand-over between the
    # threads. Only relu's output is kept, as the two ops would keep it.
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.y = y = _linear_forward(ctx, x, w, b, True)
        return y

    @staticmethod
    def backward(ctx, grad):
        return _linear_backward(ctx, relu_grad_array(grad, ctx.y))


def _check_linear(input, weight, bias):
    if weight.ndim != 2 or input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input of shape {input.shape} cannot be multiplied with weight of shape "
            f"{weight.shape} (expected input's last dim to equal in_features={weight.shape[-1]})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {bias.shape} does not match "
                           f"out_features={weight.shape[0]}")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"linear: input dtype {input.dtype} does not match weight dtype "
                           f"{weight.dtype} (convert the input or call model.double())")


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` for input (*, in_features), weight (out_features, in_features).

    >>> import chainrule
    >>> chainrule.nn.functional.linear(chainrule.ones(2, 3), chainrule.ones(4, 3)).shape
    (2, 4)
    """
    _check_linear(input, weight, bias)
    return Linear.apply(input, weight, bias)


def linear_relu(input, weight, bias=None):
    """``relu(linear(input, weight, bias))`` as one primitive (what ``nn.Sequential`` runs for a
    Linear layer followed by ReLU): the same values and gradients, one pass fewer.

    >>> import chainrule
    >>> linear_relu(chainrule.ones(1, 2), chainrule.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    tensor([[2., 0.]])
    """
    _check_linear(input, weight, bias)
    return LinearReLU.apply(input, weight, bias)


def linear_chain(input, layers):
    """The output of Linear layers applied one after another, each as ``(weight, bias or
    None, relu)`` (relu: rectified, a ReLU after it), computed without a graph (for
    ``no_grad``; nn.Sequential runs its runs of Linear and ReLU layers so): the batch's rows
    in two halves, one per core, each half through every layer (see ``_mkl.linear_chain``).
    None, having done nothing, where that does not apply (grad mode on, too small, no MKL, a
    shape or dtype that does not fit); the caller then runs the layers one by one (and raises
    their errors).
    """
    if is_grad_enabled() or not isinstance(input, Tensor) or input.ndim < 2:
        return None
    x = input._data
    rows = math.prod(x.shape[:-1])
    y = _mkl.linear_chain(x.reshape(rows, x.shape[-1]),
                          [(w._data.T, None if b is None else b._data, relu)
                           for w, b, relu in layers])
    return None if y is None else Tensor._wrap(y.reshape(*x.shape[:-1], y.shape[-1]))
