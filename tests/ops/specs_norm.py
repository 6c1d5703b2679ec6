"""Spec rows for the normalisation, dropout and embedding primitives (see ``specs.py``)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops import dropout as do
from chainrule.ops import norm, sparse
from chainrule.random import default_generator
from tests.ops.specs import Spec, ints, normal, positive

TOL = (1e-4, 1e-4)  # NOTE: float32 sums over a batch round differently from PyTorch's kernels.


def _t():
    import torch

    return torch


def _tf():
    import torch.nn.functional as tf

    return tf


# --- batch norm ---

BN = (((4, 3), (3,), (3,)), ((3, 2, 5), (2,), (2,)), ((2, 3, 2, 2), (3,), (3,)),
      ((1, 2, 3), (2,), (2,)))
BN_BIG = ((16, 8, 6, 6), (8,), (8,))


def _running(x, c: int, seed: int):
    """Fixed running statistics in x's dtype, the same numbers in either framework."""
    rng = np.random.default_rng(seed)
    mean, var = rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c)
    if isinstance(x, cr.Tensor):
        return cr.tensor(mean.astype(x.dtype)), cr.tensor(var.astype(x.dtype))
    dt = x.detach().numpy().dtype
    return _t().from_numpy(mean.astype(dt)), _t().from_numpy(var.astype(dt))


def _bn_train(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


def _bn_train_t(x, w, b):
    return _tf().batch_norm(x, None, None, w, b, training=True)


def _bn_tracked(x, w, b):
    rm, rv = _running(x, x.shape[1], 1)
    return F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3)


def _bn_tracked_t(x, w, b):
    rm, rv = _running(x, x.shape[1], 1)
    return _tf().batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3)


def _bn_eval(x, w, b):
    return F.batch_norm(x, *_running(x, x.shape[1], 2), w, b, training=False)


def _bn_eval_t(x, w, b):
    return _tf().batch_norm(x, *_running(x, x.shape[1], 2), w, b, training=False)


# --- dropout: a fixed mask, drawn from a fixed seed without disturbing the global stream ---


def _mask(shape, p: float, dtype) -> np.ndarray:
    state = default_generator.get_state()
    default_generator.manual_seed(1234)
    try:
        return do.dropout_mask(tuple(shape), p, np.dtype(dtype))
    finally:
        default_generator.set_state(state)


def _dropout(x):
    state = default_generator.get_state()
    default_generator.manual_seed(1234)
    try:
        return F.dropout(x, 0.3)
    finally:
        default_generator.set_state(state)


def _dropout_t(x):
    dt = x.detach().numpy().dtype
    return x * _t().from_numpy(_mask(x.shape, 0.3, dt))


# --- embedding ---

EMB = (((5,), (6, 3)), ((3, 4), (6, 2)), ((), (6, 3)), ((2, 3, 2), (6, 1)))
EMB_BIG = ((32, 35), (6, 64))
IDX = ints(0, 6)

SPECS: list[Spec] = [
    Spec(name="batch_norm_train", prims=(norm.BatchNorm,), fn=_bn_train, torch_fn=_bn_train_t,
         cases=BN, big=BN_BIG, gens=(normal, positive, normal), tol32=TOL),
    Spec(name="batch_norm_running_stats", prims=(norm.BatchNorm,), fn=_bn_tracked,
         torch_fn=_bn_tracked_t, cases=BN[:2], big=BN_BIG, gens=(normal, positive, normal),
         tol32=TOL),
    Spec(name="batch_norm_no_affine", prims=(norm.BatchNorm,),
         fn=lambda x: F.batch_norm(x, None, None, training=True),
         torch_fn=lambda x: _tf().batch_norm(x, None, None, training=True),
         cases=tuple(c[:1] for c in BN), big=BN_BIG[:1], tol32=TOL),
    Spec(name="batch_norm_weight_only", prims=(norm.BatchNorm,),
         fn=lambda x, w: F.batch_norm(x, None, None, w, training=True),
         torch_fn=lambda x, w: _tf().batch_norm(x, None, None, w, training=True),
         cases=tuple(c[:2] for c in BN[:2]), big=BN_BIG[:2], gens=(normal, positive),
         tol32=TOL),
    Spec(name="batch_norm_eval", prims=(norm.BatchNorm,), fn=_bn_eval, torch_fn=_bn_eval_t,
         cases=BN, big=BN_BIG, gens=(normal, positive, normal), tol32=TOL),
    Spec(name="batch_norm_eval_no_affine", prims=(norm.BatchNorm,),
         fn=lambda x: F.batch_norm(x, *_running(x, x.shape[1], 3), training=False),
         torch_fn=lambda x: _tf().batch_norm(x, *_running(x, x.shape[1], 3), training=False),
         cases=tuple(c[:1] for c in BN), big=BN_BIG[:1], tol32=TOL),
    Spec(name="layer_norm", prims=(norm.LayerNorm,),
         fn=lambda x, w, b: F.layer_norm(x, tuple(w.shape), w, b, eps=1e-3),
         torch_fn=lambda x, w, b: _tf().layer_norm(x, tuple(w.shape), w, b, eps=1e-3),
         cases=(((3, 4), (4,), (4,)), ((2, 3, 4), (3, 4), (3, 4)), ((5,), (5,), (5,)),
                ((2, 1, 3), (3,), (3,))),
         big=((64, 128), (128,), (128,)), gens=(normal, positive, normal), tol32=TOL),
    Spec(name="layer_norm_weight_only", prims=(norm.LayerNorm,),
         fn=lambda x, w: F.layer_norm(x, tuple(w.shape), w),
         torch_fn=lambda x, w: _tf().layer_norm(x, tuple(w.shape), w),
         cases=(((3, 4), (4,)), ((2, 3, 4), (3, 4))), big=((64, 128), (128,)),
         gens=(normal, positive), tol32=TOL),
    Spec(name="layer_norm_no_affine", prims=(norm.LayerNorm,),
         fn=lambda x: F.layer_norm(x, x.shape[-1:]),
         torch_fn=lambda x: _tf().layer_norm(x, x.shape[-1:]),
         cases=(((3, 4),), ((2, 3, 5),)), big=((64, 128),), tol32=TOL),
    Spec(name="add_layer_norm", prims=(norm.LayerNorm,),
         fn=lambda x, r, w, b: norm.add_layer_norm(x, r, tuple(w.shape), w, b, eps=1e-3),
         torch_fn=lambda x, r, w, b: _tf().layer_norm(x + r, tuple(w.shape), w, b, eps=1e-3),
         cases=(((3, 4), (3, 4), (4,), (4,)), ((2, 3, 4), (2, 3, 4), (3, 4), (3, 4))),
         big=((64, 128), (64, 128), (128,), (128,)), gens=(normal, normal, positive, normal),
         tol32=TOL),
    Spec(name="group_norm", prims=(norm.GroupNorm,),
         fn=lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-3),
         torch_fn=lambda x, w, b: _tf().group_norm(x, 2, w, b, eps=1e-3),
         cases=(((2, 4, 3), (4,), (4,)), ((3, 6), (6,), (6,)), ((2, 4, 2, 2), (4,), (4,)),
                ((1, 2, 3), (2,), (2,))),
         big=((16, 32, 8, 8), (32,), (32,)), gens=(normal, positive, normal), tol32=TOL),
    Spec(name="group_norm_no_affine", prims=(norm.GroupNorm,),
         fn=lambda x: F.group_norm(x, 3),
         torch_fn=lambda x: _tf().group_norm(x, 3),
         cases=(((2, 6, 2),), ((2, 3),)), big=((16, 12, 10),), tol32=TOL),
    Spec(name="group_norm_bias_only", prims=(norm.GroupNorm,),
         fn=lambda x, b: F.group_norm(x, 2, None, b),
         # NOTE: torch 2.13's group_norm backward fails with a bias but no weight
         # ("tensor does not have a device"), so its oracle adds the bias itself.
         torch_fn=lambda x, b: _tf().group_norm(x, 2) + b[:, None],
         cases=(((2, 4, 3), (4,)),), big=((16, 32, 10), (32,)), tol32=TOL),
    Spec(name="dropout_fixed_mask", prims=(do.Dropout,), fn=_dropout, torch_fn=_dropout_t,
         cases=(((3, 4),), ((2, 1, 5),), ((7,),)), big=((64, 128),)),
    Spec(name="embedding", prims=(sparse.Embedding,), fn=lambda i, w: F.embedding(i, w),
         torch_fn=lambda i, w: _tf().embedding(i, w), cases=EMB, big=EMB_BIG, gens=(IDX, normal)),
]
