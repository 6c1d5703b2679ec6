"""Spec rows for the convolution and pooling primitives (ops/conv/, ops/pool/).

Small cases feed the float64 gradcheck (full Jacobians, so a few hundred elements at most);
``big`` feeds the random-direction check and the PyTorch parity test. Max pooling uses
tie-free inputs (:func:`distinct`), as its subgradient at ties is a convention.
"""

from __future__ import annotations

import chainrule.nn.functional as F
from chainrule.ops import conv as cv
from chainrule.ops import pool as pl
from chainrule.ops.conv import convolution as cvc
from tests.ops.specs import Spec, distinct, normal


def _tf():
    import torch.nn.functional as TF

    return TF


def _torch_same(x, w):
    """PyTorch's padding='same' (quietly: it warns that even kernels need a padded copy)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _tf().conv2d(x, w, padding="same")


# NOTE: float32 sums of a few hundred to a few thousand products: errors near 1e-5 of the
# values' scale, so atol 1e-4 (weights' gradients sum over batch and positions: atol 1e-3).
CONV32 = (1e-4, 1e-3)


def _conv(name, prim, fn, torch_fn, cases, big, **kw):
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=cases, big=big,
                tol32=CONV32, **kw)


def _pool(name, prim, fn, torch_fn, cases, big, gen=normal, **kw):
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=cases, big=big,
                gens=(gen,), **kw)


SPECS: list[Spec] = [
    # --- conv2d ---
    _conv("conv2d", cv.Conv, lambda x, w, b: F.conv2d(x, w, b),
          lambda x, w, b: _tf().conv2d(x, w, b),
          cases=(((2, 3, 5, 6), (4, 3, 3, 3), (4,)), ((1, 1, 3, 3), (1, 1, 3, 3), (1,))),
          big=((8, 16, 16, 16), (32, 16, 3, 3), (32,))),
    _conv("conv2d_stride_pad_dilation", cv.Conv,
          lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
          lambda x, w, b: _tf().conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
          cases=(((2, 3, 7, 6), (4, 3, 3, 2), (4,)),),
          big=((8, 8, 21, 18), (16, 8, 3, 2), (16,))),
    _conv("conv2d_groups", cv.Conv, lambda x, w: F.conv2d(x, w, padding=1, groups=2),
          lambda x, w: _tf().conv2d(x, w, padding=1, groups=2),
          cases=(((2, 4, 5, 4), (6, 2, 3, 3)),), big=((8, 16, 12, 12), (32, 8, 3, 3))),
    _conv("conv2d_depthwise", cv.Conv, lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 4),
          lambda x, w, b: _tf().conv2d(x, w, b, 2, 1, 1, 4),
          cases=(((2, 4, 5, 5), (4, 1, 3, 3), (4,)),), big=((8, 4, 31, 31), (4, 1, 3, 3), (4,))),
    _conv("conv2d_same_even_kernel", cv.Conv, lambda x, w: F.conv2d(x, w, padding="same"),
          _torch_same,
          cases=(((1, 2, 5, 6), (3, 2, 2, 4)),), big=((4, 8, 15, 16), (8, 8, 4, 2))),
    _conv("conv2d_valid_1x1", cv.Conv, lambda x, w, b: F.conv2d(x, w, b, padding="valid"),
          lambda x, w, b: _tf().conv2d(x, w, b, padding="valid"),
          cases=(((2, 3, 4, 4), (5, 3, 1, 1), (5,)),), big=((16, 32, 8, 8), (64, 32, 1, 1), (64,))),
    _conv("conv2d_1x1_strided", cv.Conv, lambda x, w: F.conv2d(x, w, stride=2),
          lambda x, w: _tf().conv2d(x, w, stride=2),
          cases=(((2, 3, 5, 4), (4, 3, 1, 1)),), big=((8, 16, 15, 15), (32, 16, 1, 1))),
    _conv("conv2d_unbatched", cv.Conv, lambda x, w: F.conv2d(x, w, padding=1),
          lambda x, w: _tf().conv2d(x, w, padding=1),
          cases=(((3, 4, 5), (2, 3, 3, 3)),), big=((16, 20, 20), (8, 16, 3, 3))),
    # --- conv + relu (nn.Sequential's Conv1d/Conv2d followed by ReLU) ---
    _conv("conv2d_relu", cvc.ConvReLU,
          lambda x, w, b: cvc._conv(x, w, b, 1, 1, 1, 1, 2, "conv2d", relu=True),
          lambda x, w, b: _tf().relu(_tf().conv2d(x, w, b, padding=1)),
          cases=(((2, 3, 5, 6), (4, 3, 3, 3), (4,)), ((1, 1, 3, 3), (1, 1, 3, 3), (1,))),
          big=((8, 16, 16, 16), (32, 16, 3, 3), (32,))),
    _conv("conv2d_relu_one_channel", cvc.ConvReLU,  # (the direct kernel, LeNet's conv1)
          lambda x, w, b: cvc._conv(x, w, b, 1, 2, 1, 1, 2, "conv2d", relu=True),
          lambda x, w, b: _tf().relu(_tf().conv2d(x, w, b, padding=2)),
          cases=(((2, 1, 6, 5), (3, 1, 5, 5), (3,)),),
          big=((16, 1, 28, 28), (6, 1, 5, 5), (6,))),
    _conv("conv1d_relu", cvc.ConvReLU,
          lambda x, w, b: cvc._conv(x, w, b, 2, 1, 1, 1, 1, "conv1d", relu=True),
          lambda x, w, b: _tf().relu(_tf().conv1d(x, w, b, stride=2, padding=1)),
          cases=(((2, 3, 9), (4, 3, 3), (4,)),),
          big=((8, 16, 64), (32, 16, 5), (32,))),
    # --- conv1d ---
    _conv("conv1d", cv.Conv, lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
          lambda x, w, b: _tf().conv1d(x, w, b, stride=2, padding=1),
          cases=(((2, 3, 9), (4, 3, 3), (4,)),), big=((16, 16, 64), (32, 16, 5), (32,))),
    _conv("conv1d_same_dilated_groups", cv.Conv,
          lambda x, w: F.conv1d(x, w, padding="same", dilation=2, groups=2),
          lambda x, w: _tf().conv1d(x, w, padding="same", dilation=2, groups=2),
          cases=(((2, 4, 8), (6, 2, 3)),), big=((16, 16, 50), (16, 8, 4))),
    # --- conv_transpose2d ---
    _conv("conv_transpose2d", cv.ConvTranspose,
          lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
          lambda x, w, b: _tf().conv_transpose2d(x, w, b, stride=2),
          cases=(((2, 3, 3, 4), (3, 2, 3, 3), (2,)),), big=((8, 16, 8, 8), (16, 8, 4, 4), (8,))),
    _conv("conv_transpose2d_all_options", cv.ConvTranspose,
          lambda x, w, b: F.conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2), 2, (2, 1)),
          lambda x, w, b: _tf().conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2), 2, (2, 1)),
          cases=(((2, 4, 3, 3), (4, 3, 2, 3), (6,)),), big=((8, 8, 7, 6), (8, 4, 3, 3), (8,))),
    _conv("conv_transpose2d_unbatched", cv.ConvTranspose,
          lambda x, w: F.conv_transpose2d(x, w, padding=1),
          lambda x, w: _tf().conv_transpose2d(x, w, padding=1),
          cases=(((3, 3, 4), (3, 2, 3, 3)),), big=((16, 10, 10), (16, 8, 3, 3))),
    _conv("conv_transpose1d", cv.ConvTranspose,
          lambda x, w, b: F.conv_transpose1d(x, w, b, 3, 1, 2, 2, 2),
          lambda x, w, b: _tf().conv_transpose1d(x, w, b, 3, 1, 2, 2, 2),
          cases=(((2, 4, 5), (4, 2, 3), (4,)),), big=((16, 8, 40), (8, 4, 5), (8,))),
    # --- max pooling ---
    _pool("max_pool2d", pl.MaxPool, lambda x: F.max_pool2d(x, 2),
          lambda x: _tf().max_pool2d(x, 2), gen=distinct,
          cases=(((2, 3, 4, 5),), ((1, 1, 2, 2),)), big=((16, 32, 16, 16),)),
    _pool("max_pool2d_indices_overlap", pl.MaxPool,
          lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True),
          lambda x: _tf().max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
          gen=distinct, cases=(((2, 2, 6, 5),),), big=((8, 16, 17, 16),)),
    _pool("max_pool2d_dilation", pl.MaxPool,
          lambda x: F.max_pool2d(x, (2, 3), (1, 2), (1, 1), dilation=(2, 1), return_indices=True),
          lambda x: _tf().max_pool2d(x, (2, 3), (1, 2), (1, 1), (2, 1), return_indices=True),
          gen=distinct, cases=(((1, 2, 5, 7),),), big=((8, 8, 20, 21),)),
    _pool("max_pool1d", pl.MaxPool, lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True),
          lambda x: _tf().max_pool1d(x, 3, 2, 1, return_indices=True), gen=distinct,
          cases=(((2, 3, 8),), ((3, 7),)), big=((16, 32, 100),)),
    # --- average pooling ---
    _pool("avg_pool2d", pl.AvgPool, lambda x: F.avg_pool2d(x, 2),
          lambda x: _tf().avg_pool2d(x, 2), cases=(((2, 3, 4, 5),), ((3, 2, 2),)),
          big=((16, 32, 16, 16),)),
    _pool("avg_pool2d_pad_ceil_exclude", pl.AvgPool,
          lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
          lambda x: _tf().avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
          cases=(((2, 2, 6, 5),),), big=((8, 16, 17, 16),)),
    _pool("avg_pool2d_divisor_override", pl.AvgPool,
          lambda x: F.avg_pool2d(x, (2, 3), 1, (1, 0), ceil_mode=True, divisor_override=4),
          lambda x: _tf().avg_pool2d(x, (2, 3), 1, (1, 0), True, True, 4),
          cases=(((1, 2, 4, 5),),), big=((8, 16, 12, 12),)),
    # --- adaptive average pooling ---
    _pool("adaptive_avg_pool2d_blocks", pl.AdaptiveAvgPool2d,
          lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
          lambda x: _tf().adaptive_avg_pool2d(x, (2, 3)),
          cases=(((2, 3, 4, 6),), ((3, 2, 3),)), big=((16, 64, 8, 9),)),
    _pool("adaptive_avg_pool2d_overlapping", pl.AdaptiveAvgPool2d,
          lambda x: F.adaptive_avg_pool2d(x, (3, None)),
          lambda x: _tf().adaptive_avg_pool2d(x, (3, None)),
          cases=(((2, 2, 5, 4),),), big=((16, 32, 7, 9),)),
    _pool("adaptive_avg_pool2d_global", pl.AdaptiveAvgPool2d,
          lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: _tf().adaptive_avg_pool2d(x, 1),
          cases=(((2, 3, 3, 4),),), big=((32, 64, 7, 7),)),
]
