"""chainrule.nn: modules, layers, losses, initialisers and the functional interface."""

from chainrule.nn import functional, init
from chainrule.nn.containers import ModuleDict, ModuleList, Sequential
from chainrule.nn.layers.linear import Flatten, Identity, Linear, Unflatten
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.nn.summary import ModelSummary, summary
