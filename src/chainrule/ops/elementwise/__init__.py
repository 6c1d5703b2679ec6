"""Elementwise primitives and their functional forms, in four files:

- ``binary.py``: arithmetic on two operands (add, sub, mul, div, pow, maximum, minimum) and
  PyTorch's type promotion of the operands (``_prepare``).
- ``unary.py``: maths on one operand (exp, log, sqrt, abs, trigonometry, tanh, sigmoid,
  clamp, rounding, casts, clone).
- ``rectifier.py``: relu, and the array routines of it that fused ops share.
- ``compare.py``: comparisons and logical ops (no gradient).
"""

from chainrule.ops.elementwise.binary import (  # noqa: F401
    Add,
    Div,
    Maximum,
    Minimum,
    Mul,
    Pow,
    Sub,
    _prepare,
    add,
    div,
    maximum,
    minimum,
    mul,
    pow,
    sub,
)
from chainrule.ops.elementwise.compare import (  # noqa: F401
    allclose,
    eq,
    equal,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
)
from chainrule.ops.elementwise.rectifier import Relu, relu  # noqa: F401
from chainrule.ops.elementwise.unary import (  # noqa: F401
    Abs,
    Cast,
    Clamp,
    Clone,
    Cos,
    Exp,
    Expm1,
    Log,
    Log1p,
    Neg,
    Sigmoid,
    Sin,
    Sqrt,
    Step,
    Tanh,
    _float,
    abs,
    ceil,
    clamp,
    clone,
    cos,
    exp,
    expm1,
    floor,
    log,
    log1p,
    neg,
    reciprocal,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    stable_sigmoid,
    tanh,
    trunc,
)
