"""chainrule.nn.functional: the stateless forms of the layers (imported as F)."""

from chainrule.ops.elementwise import relu, sigmoid, tanh
from chainrule.ops.linalg import linear
from chainrule.ops.reduction import log_softmax, softmax
from chainrule.ops.shape import pad

__all__ = ["linear", "log_softmax", "pad", "relu", "sigmoid", "softmax", "tanh"]
