"""chainrule.nn.functional: the stateless forms of the layers (imported as F)."""

from chainrule.ops.activation import elu, gelu, leaky_relu, relu, silu, softplus
from chainrule.ops.attention import multi_head_attention_forward, scaled_dot_product_attention
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from chainrule.ops.dropout import dropout
from chainrule.ops.elementwise import sigmoid, tanh
from chainrule.ops.linalg import linear
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.ops.norm import batch_norm, group_norm, layer_norm
from chainrule.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool1d, max_pool2d
from chainrule.ops.reduction import log_softmax, softmax
from chainrule.ops.shape import pad
from chainrule.ops.sparse import embedding

__all__ = ["linear", "log_softmax", "pad", "relu", "sigmoid", "softmax", "tanh"]
__all__ += ["elu", "gelu", "leaky_relu", "silu", "softplus", "binary_cross_entropy",
            "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss", "kl_div", "l1_loss",
            "mse_loss", "nll_loss", "smooth_l1_loss"]
__all__ += ["batch_norm", "dropout", "embedding", "group_norm", "layer_norm"]
__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "conv1d", "conv2d", "conv_transpose1d",
            "conv_transpose2d", "max_pool1d", "max_pool2d"]
__all__ += ["multi_head_attention_forward", "scaled_dot_product_attention"]
