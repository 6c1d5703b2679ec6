"""Spec rows for the loss primitives of ``ops/loss/`` (see ``specs.py``).

Class-index targets come from generators over 4 classes, so every input below has C >= 4;
per-class weights are an input that does not require grad (torch gives none for them).
"""

from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.ops import loss as L
from tests.ops.specs import Spec, even_grid, normal, odd_grid, positive

C = 4
TOL = (1e-5, 1e-4)  # NOTE: float32 sums over a batch round differently from PyTorch's kernels.


def _tf():
    import torch.nn.functional as tf

    return tf


def classes(rng, shape):
    """Class indices in [0, 4), the first one 0 (so an ignore_index of 2 never ignores all)."""
    t = np.array(rng.integers(0, C, shape))
    t.reshape(-1)[:1] = 0
    return t.astype(np.int64)


def ignored(rng, shape):
    """Class indices with about a quarter of them -100 (PyTorch's ignore_index), never all."""
    t = classes(rng, shape)
    mask = np.array(rng.random(shape) < 0.25)
    mask.reshape(-1)[:1] = False
    return np.where(mask, -100, t).astype(np.int64)


def probs(rng, shape):
    """Rows of class probabilities along dim 1 (dim 0 for a 1-D shape)."""
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)


def unit(rng, shape):
    """Probabilities in [0.05, 0.95], away from BCE's clamps."""
    return rng.uniform(0.05, 0.95, shape)


def class_weight(rng, shape):
    return rng.uniform(0.5, 2.0, shape)



# Class-index cases: logits (N, C), unbatched (C), K-dimensional (N, C, d1, d2), a batch of one.
IDX = (((3, 5), (3,)), ((4,), ()), ((2, 4, 3, 2), (2, 3, 2)), ((1, 4), (1,)))
IDX_BIG = ((64, 128), (64,))
IDX_W = (((3, 5), (3,), (5,)), ((4,), (), (4,)), ((2, 4, 3), (2, 3), (4,)))
IDX_W_BIG = ((64, 128), (64,), (128,))
PROB = (((3, 5), (3, 5)), ((4,), (4,)), ((2, 4, 3), (2, 4, 3)))
PROB_BIG = ((64, 128), (64, 128))
PAIR = (((3, 4), (3, 4)), ((), ()), ((2, 1, 3), (2, 1, 3)))
PAIR_BIG = ((64, 128), (64, 128))


def _ce(name, fn, torch_fn, gens=(normal, classes), **kw):
    return Spec(name=name, prims=(L.CrossEntropy,), fn=fn, torch_fn=torch_fn, cases=IDX,
                big=IDX_BIG, gens=gens, grads=(True, False), tol32=TOL, **kw)


def _ce_w(name, prim, fn, torch_fn, gens=(normal, classes, class_weight)):
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=IDX_W, big=IDX_W_BIG,
                gens=gens, grads=(True, False, False), tol32=TOL)


def _pair(name, prim, fn, torch_fn, gens=(normal, normal), grads=None, cases=PAIR, big=PAIR_BIG):
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=cases, big=big,
                gens=gens, grads=grads, tol32=TOL)


SPECS: list[Spec] = [
    # --- cross-entropy with class indices ---
    _ce("cross_entropy", lambda x, t: F.cross_entropy(x, t),
        lambda x, t: _tf().cross_entropy(x, t)),
    _ce("cross_entropy_sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"),
        lambda x, t: _tf().cross_entropy(x, t, reduction="sum")),
    _ce("cross_entropy_none", lambda x, t: F.cross_entropy(3 * x, t, reduction="none"),
        lambda x, t: _tf().cross_entropy(3 * x, t, reduction="none")),
    _ce("cross_entropy_ignore", lambda x, t: F.cross_entropy(x, t),
        lambda x, t: _tf().cross_entropy(x, t), gens=(normal, ignored)),
    _ce("cross_entropy_ignore_class", lambda x, t: F.cross_entropy(x, t, ignore_index=1),
        lambda x, t: _tf().cross_entropy(x, t, ignore_index=1)),
    _ce("cross_entropy_smoothing", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2),
        lambda x, t: _tf().cross_entropy(x, t, label_smoothing=0.2), gens=(normal, ignored)),
    _ce("cross_entropy_smoothing_none",
        lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.3),
        lambda x, t: _tf().cross_entropy(x, t, reduction="none", label_smoothing=0.3),
        gens=(normal, ignored)),
    _ce_w("cross_entropy_weight", L.CrossEntropy,
          lambda x, t, w: F.cross_entropy(x, t, w),
          lambda x, t, w: _tf().cross_entropy(x, t, w)),
    _ce_w("cross_entropy_weight_ignore_smoothing", L.CrossEntropy,
          lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.15),
          lambda x, t, w: _tf().cross_entropy(x, t, w, label_smoothing=0.15),
          gens=(normal, ignored, class_weight)),
    _ce_w("cross_entropy_weight_sum_smoothing", L.CrossEntropy,
          lambda x, t, w: F.cross_entropy(x, t, w, reduction="sum", label_smoothing=0.4),
          lambda x, t, w: _tf().cross_entropy(x, t, w, reduction="sum", label_smoothing=0.4),
          gens=(normal, ignored, class_weight)),
    _ce_w("cross_entropy_weight_none", L.CrossEntropy,
          lambda x, t, w: F.cross_entropy(x, t, w, reduction="none"),
          lambda x, t, w: _tf().cross_entropy(x, t, w, reduction="none"),
          gens=(normal, ignored, class_weight)),
    # --- cross-entropy with class probabilities (the target gets a gradient too) ---
    Spec(name="cross_entropy_probs", prims=(L.CrossEntropyProbs,),
         fn=lambda x, p: F.cross_entropy(x, p), torch_fn=lambda x, p: _tf().cross_entropy(x, p),
         cases=PROB, big=PROB_BIG, gens=(normal, probs), tol32=TOL),
    Spec(name="cross_entropy_probs_none_smoothing", prims=(L.CrossEntropyProbs,),
         fn=lambda x, p: F.cross_entropy(x, p, reduction="none", label_smoothing=0.2),
         torch_fn=lambda x, p: _tf().cross_entropy(x, p, reduction="none", label_smoothing=0.2),
         cases=PROB, big=PROB_BIG, gens=(normal, probs), tol32=TOL),
    Spec(name="cross_entropy_probs_weight_sum", prims=(L.CrossEntropyProbs,),
         fn=lambda x, p, w: F.cross_entropy(x, p, w, reduction="sum", label_smoothing=0.1),
         torch_fn=lambda x, p, w: _tf().cross_entropy(x, p, w, reduction="sum",
                                                      label_smoothing=0.1),
         cases=tuple((*c, (c[0][1 if len(c[0]) > 1 else 0],)) for c in PROB),
         big=(*PROB_BIG, (128,)), gens=(normal, probs, class_weight),
         grads=(True, True, False), tol32=TOL),
    # --- negative log-likelihood ---
    Spec(name="nll_loss", prims=(L.NLL,), fn=lambda x, t: F.nll_loss(x, t),
         torch_fn=lambda x, t: _tf().nll_loss(x, t), cases=IDX, big=IDX_BIG,
         gens=(normal, ignored), grads=(True, False), tol32=TOL),
    Spec(name="nll_loss_none", prims=(L.NLL,), fn=lambda x, t: F.nll_loss(x, t, reduction="none"),
         torch_fn=lambda x, t: _tf().nll_loss(x, t, reduction="none"), cases=IDX, big=IDX_BIG,
         gens=(normal, ignored), grads=(True, False), tol32=TOL),
    _ce_w("nll_loss_weight_sum", L.NLL, lambda x, t, w: F.nll_loss(x, t, w, reduction="sum"),
          lambda x, t, w: _tf().nll_loss(x, t, w, reduction="sum"),
          gens=(normal, ignored, class_weight)),
    _ce_w("nll_loss_weight_mean", L.NLL, lambda x, t, w: F.nll_loss(x, t, w, ignore_index=2),
          lambda x, t, w: _tf().nll_loss(x, t, w, ignore_index=2)),
    # --- binary cross-entropy ---
    _pair("bce", L.BCE, lambda x, y: F.binary_cross_entropy(x, y),
          lambda x, y: _tf().binary_cross_entropy(x, y), gens=(unit, unit)),
    _pair("bce_none", L.BCE, lambda x, y: F.binary_cross_entropy(x, y, reduction="none"),
          lambda x, y: _tf().binary_cross_entropy(x, y, reduction="none"), gens=(unit, unit)),
    _pair("bce_weight_sum", L.BCE,
          lambda x, y, w: F.binary_cross_entropy(x, y, w, reduction="sum"),
          lambda x, y, w: _tf().binary_cross_entropy(x, y, w, reduction="sum"),
          gens=(unit, unit, positive), grads=(True, True, False),
          cases=(((3, 4), (3, 4), (4,)), ((), (), ()), ((2, 3), (2, 3), (2, 1))),
          big=((64, 128), (64, 128), (128,))),
    _pair("bce_with_logits", L.BCEWithLogits,
          lambda x, y: F.binary_cross_entropy_with_logits(3 * x, y),
          lambda x, y: _tf().binary_cross_entropy_with_logits(3 * x, y), gens=(normal, unit)),
    _pair("bce_with_logits_none", L.BCEWithLogits,
          lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
          lambda x, y: _tf().binary_cross_entropy_with_logits(x, y, reduction="none"),
          gens=(normal, unit)),
    _pair("bce_with_logits_weights", L.BCEWithLogits,
          lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w, pos_weight=pw),
          lambda x, y, w, pw: _tf().binary_cross_entropy_with_logits(x, y, w, pos_weight=pw),
          gens=(normal, unit, positive, positive), grads=(True, True, False, False),
          cases=(((3, 4), (3, 4), (3, 1), (4,)), ((), (), (), ()), ((2, 1, 3), (2, 1, 3), (3,),
                                                                     (1, 3))),
          big=((64, 128), (64, 128), (64, 1), (128,))),
    _pair("bce_with_logits_pos_weight_sum", L.BCEWithLogits,
          lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, reduction="sum",
                                                              pos_weight=pw),
          lambda x, y, pw: _tf().binary_cross_entropy_with_logits(x, y, reduction="sum",
                                                                  pos_weight=pw),
          gens=(normal, unit, positive), grads=(True, True, False),
          cases=(((3, 4), (3, 4), (4,)), ((), (), ())), big=((64, 128), (64, 128), (128,))),
    # --- regression ---
    _pair("mse_loss", L.MSE, lambda x, y: F.mse_loss(x, y), lambda x, y: _tf().mse_loss(x, y)),
    _pair("mse_loss_sum", L.MSE, lambda x, y: F.mse_loss(x, y, reduction="sum"),
          lambda x, y: _tf().mse_loss(x, y, reduction="sum")),
    _pair("mse_loss_none", L.MSE, lambda x, y: F.mse_loss(x, y, reduction="none"),
          lambda x, y: _tf().mse_loss(x, y, reduction="none")),
    _pair("mse_loss_weight", L.MSE, lambda x, y, w: F.mse_loss(x, y, weight=w),
          lambda x, y, w: _tf().mse_loss(x, y, weight=w), gens=(normal, normal, positive),
          grads=(True, True, False), cases=tuple((*c, c[0]) for c in PAIR),
          big=(*PAIR_BIG, PAIR_BIG[0])),
    _pair("l1_loss", L.L1, lambda x, y: F.l1_loss(x, y), lambda x, y: _tf().l1_loss(x, y),
          gens=(even_grid, odd_grid)),
    _pair("l1_loss_none", L.L1, lambda x, y: F.l1_loss(x, y, reduction="none"),
          lambda x, y: _tf().l1_loss(x, y, reduction="none"), gens=(even_grid, odd_grid)),
    _pair("l1_loss_weight_sum", L.L1, lambda x, y, w: F.l1_loss(x, y, reduction="sum", weight=w),
          lambda x, y, w: _tf().l1_loss(x, y, reduction="sum", weight=w),
          gens=(even_grid, odd_grid, positive), grads=(True, True, False),
          cases=tuple((*c, c[0]) for c in PAIR), big=(*PAIR_BIG, PAIR_BIG[0])),
    _pair("huber_loss", L.Huber, lambda x, y: F.huber_loss(x, y),
          lambda x, y: _tf().huber_loss(x, y), gens=(even_grid, odd_grid)),
    _pair("huber_loss_delta_none", L.Huber,
          lambda x, y: F.huber_loss(x, y, reduction="none", delta=0.5),
          lambda x, y: _tf().huber_loss(x, y, reduction="none", delta=0.5)),
    _pair("huber_loss_weight", L.Huber, lambda x, y, w: F.huber_loss(x, y, delta=2.0, weight=w),
          lambda x, y, w: _tf().huber_loss(x, y, delta=2.0, weight=w),
          gens=(even_grid, odd_grid, positive), grads=(True, True, False),
          cases=tuple((*c, c[0]) for c in PAIR), big=(*PAIR_BIG, PAIR_BIG[0])),
    _pair("smooth_l1_loss", L.Huber, lambda x, y: F.smooth_l1_loss(x, y),
          lambda x, y: _tf().smooth_l1_loss(x, y)),
    _pair("smooth_l1_loss_beta_sum", L.Huber,
          lambda x, y: F.smooth_l1_loss(x, y, reduction="sum", beta=0.3),
          lambda x, y: _tf().smooth_l1_loss(x, y, reduction="sum", beta=0.3),
          gens=(even_grid, odd_grid)),
    _pair("smooth_l1_loss_beta0", L.L1, lambda x, y: F.smooth_l1_loss(x, y, beta=0.0),
          lambda x, y: _tf().smooth_l1_loss(x, y, beta=0.0), gens=(even_grid, odd_grid)),
    # --- KL divergence ---
    _pair("kl_div_batchmean", L.KLDiv, lambda x, t: F.kl_div(x, t, reduction="batchmean"),
          lambda x, t: _tf().kl_div(x, t, reduction="batchmean"), gens=(normal, positive)),
    _pair("kl_div_none", L.KLDiv, lambda x, t: F.kl_div(x, t, reduction="none"),
          lambda x, t: _tf().kl_div(x, t, reduction="none"), gens=(normal, positive)),
    _pair("kl_div_sum_log_target", L.KLDiv,
          lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
          lambda x, t: _tf().kl_div(x, t, reduction="sum", log_target=True)),
    _pair("kl_div_batchmean_log_target", L.KLDiv,
          lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True),
          lambda x, t: _tf().kl_div(x, t, reduction="batchmean", log_target=True)),
]
