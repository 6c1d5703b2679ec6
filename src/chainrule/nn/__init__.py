"""chainrule.nn: modules, layers, losses, initialisers and the functional interface."""

from chainrule.nn import functional, init, utils
from chainrule.nn.containers import ModuleDict, ModuleList, Sequential
from chainrule.nn.layers.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.layers.attention import MultiheadAttention
from chainrule.nn.layers.conv import Conv1d, Conv2d, ConvTranspose2d
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.linear import Flatten, Identity, Linear, Unflatten
from chainrule.nn.layers.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from chainrule.nn.layers.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    LayerNorm,
)
from chainrule.nn.layers.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool1d, MaxPool2d
from chainrule.nn.layers.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from chainrule.nn.layers.sparse import Embedding
from chainrule.nn.layers.transformer import TransformerEncoder, TransformerEncoderLayer
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.nn.summary import ModelSummary, summary
