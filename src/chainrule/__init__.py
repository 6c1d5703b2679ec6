"""chainrule: a deep-learning framework on NumPy alone, with PyTorch's API.

>>> import chainrule as torch
>>> x = torch.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
tensor([2., 4.])
"""

# NOTE: _blas_env must run before anything imports NumPy (see its docstring).
from chainrule import _blas_env  # noqa: I001
# NOTE: autograd is imported first; it pulls in Tensor and the ops in the order they need.
from chainrule import autograd
from chainrule._dtype import (
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.device import cuda, device
from chainrule.ops.elementwise import (
    abs,  # noqa: A004
    add,
    allclose,
    ceil,
    clamp,
    clone,
    cos,
    div,
    eq,
    equal,
    exp,
    expm1,
    floor,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,  # noqa: A004
    reciprocal,
    relu,
    round,  # noqa: A004
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tanh,
    trunc,
)
from chainrule.ops.linalg import bmm, dot, matmul, mm, outer
from chainrule.ops.reduction import (
    amax,
    amin,
    argmax,
    argmin,
    cumsum,
    log_softmax,
    logsumexp,
    max,  # noqa: A004
    mean,
    min,  # noqa: A004
    norm,
    prod,
    softmax,
    std,
    sum,  # noqa: A004
    var,
)
from chainrule.ops.shape import (
    cat,
    chunk,
    flatten,
    flip,
    gather,
    index_select,
    masked_fill,
    narrow,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
    where,
)
from chainrule.random import Generator, default_generator, initial_seed, manual_seed, seed
from chainrule.tensor import Tensor

# PyTorch's dtype aliases (they shadow builtins in this namespace only, as in torch)
bool = bool_  # noqa: A001
half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001
clip = clamp
concat = concatenate = cat
multiply, subtract, divide, negative = mul, sub, div, neg
dtype = type(float32)
__version__ = "0.1.0"

# NOTE: data and utils too, so that torch.utils.data.* works right after `import chainrule`.
from chainrule import data, nn, optim, utils  # noqa: E402
from chainrule._memory import tune_malloc  # noqa: E402

tune_malloc()
