"""Convolution: conv1d, conv2d, conv_transpose1d and conv_transpose2d as fused primitives.

- ``convolution.py``: the primitives ``Conv``, ``ConvReLU`` (a convolution and the ReLU after
  it, rectified chunk by chunk) and ``ConvTranspose`` (forward and backward side
  by side) and the functional forms.
- ``_im2col.py``: the array routines they call: im2col, one GEMM per group (or a direct
  convolution for one input channel), chunked over the batch on a few threads.
- ``_col2im.py``: the input gradient: GEMM + col2im, or a "full" convolution for stride 1.
- ``_kernels.py``: compiled twins (numba, the ``fast`` extra) of im2col, col2im and the direct
  convolution; the NumPy code stays the reference.
- ``_args.py``: argument checking shared with the poolings.
"""

from chainrule.ops.conv.convolution import (
    Conv,
    ConvTranspose,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose_out_size,
)

__all__ = ["Conv", "ConvTranspose", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose_out_size"]
