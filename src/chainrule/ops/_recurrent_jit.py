"""Compiled twins of one time step's gate math in :mod:`chainrule.ops.recurrent_kernels` (see
:mod:`chainrule._jit`): the state update and, backward, the gradients of the gates'
pre-activations, each in one pass over the step's rows instead of NumPy's five to ten. The GEMMs
stay in BLAS, and so does tanh, called between the kernels.

The callers pass C-contiguous arrays (another layout would compile a specialisation of its
own, and work); rows are the step's batch rows; gate blocks are side by side in PyTorch's
order (LSTM i, f, g, o; GRU r, z, n), and the sigmoid gates' pre-activations arrive halved
(see ``_recurrent_steps``: sigmoid(z) = 0.5 tanh(z / 2) + 0.5).

NOTE: tanh is not computed in the kernels but between them: NumPy's on the step-by-step path,
MKL's vector tanh in the whole-sequence loops (``_recurrent_loops``). numba has no vectorised
tanh here (no SVML): ``math.tanh`` in a loop runs at ~30 ns a value, 60x slower than NumPy's
SIMD tanh. A rational approximation (Eigen's float tanh) vectorised as fast as NumPy's but with
5x its error (3e-7 vs 6e-8), and the derivative 1 - tanh^2 of a saturating unit took 4x that
relative error: the gradients of the saturating-gates test drifted 8x further from float64 than
the reference's.

NOTE: each loop reads or writes only a few arrays. LLVM vectorises a loop only after checking
at run time that its arrays do not overlap, and gives up beyond a handful of checks (numba
cannot declare its arguments ``restrict``): the LSTM backward step as one loop over eight
arrays ran scalar in 38 us (32 x 256), as six loops of two to five arrays vectorised in 7 us.
"""

from __future__ import annotations

from chainrule._jit import kernel

# NOTE: contraction (fused multiply-add) only: elementwise loops need no reassociation to
# vectorise, and NaN/inf propagate as in the NumPy reference.
_FAST = {"contract"}


@kernel(fastmath=_FAST)
def add_bias_rows(g, s, b):
    """``g[:, :w] += s[:, :w] + b`` with ``w`` = ``b``'s length: a step's pre-activations are
    the input side ``g`` plus the recurrent side ``s`` plus the bias (for a GRU: of r and z)."""
    m = g.shape[0]
    w = b.shape[0]
    for r in range(m):
        gr, sr = g[r], s[r]
        for j in range(w):
            gr[j] += sr[j] + b[j]


@kernel(fastmath=_FAST)
def lstm_cell_step(g, scale, shift, cprev, c):
    """``g`` (m, 4H) holds tanh of the (halved, for the sigmoid gates) pre-activations: it
    becomes the gates (``g * scale + shift``), and c = f cprev + i g."""
    m, n = c.shape
    for r in range(m):
        gr, cr, cpr = g[r], c[r], cprev[r]
        for j in range(4 * n):
            gr[j] = gr[j] * scale[j] + shift[j]
        for j in range(n):
            cr[j] = gr[n + j] * cpr[j] + gr[j] * gr[2 * n + j]


@kernel(fastmath=_FAST)
def lstm_backward_step(dh, gout, g, tc, cprev, dc, e):
    """Backward through one LSTM step: with the state gradient ``dh + gout`` and the cell
    gradient ``dc`` (updated in place to the previous step's), the gradients of the four
    gates' pre-activations into ``e`` (m, 4H). ``g`` holds the activated gates."""
    m, n = dh.shape
    one = g.dtype.type(1)
    for r in range(m):
        hr, yr, gr, tr, dcr, er = dh[r], gout[r], g[r], tc[r], dc[r], e[r]
        for j in range(n):
            o = gr[3 * n + j]
            er[3 * n + j] = (hr[j] + yr[j]) * tr[j] * (o * (one - o))
        for j in range(n):
            t = tr[j]
            dcr[j] += (hr[j] + yr[j]) * gr[3 * n + j] * (one - t * t)
        for j in range(n):
            i = gr[j]
            er[j] = dcr[j] * gr[2 * n + j] * (i * (one - i))
        cpr = cprev[r]
        for j in range(n):
            f = gr[n + j]
            er[n + j] = dcr[j] * cpr[j] * (f * (one - f))
        for j in range(n):
            gg = gr[2 * n + j]
            er[2 * n + j] = dcr[j] * gr[j] * (one - gg * gg)
        for j in range(n):
            dcr[j] *= gr[n + j]


@kernel(fastmath=_FAST)
def gru_candidate_step(g, b, hn):
    """``g[:, :2H]`` holds tanh of the halved r, z pre-activations: they become the gates;
    ``g[:, 2H:]`` becomes n's pre-activation x W_in^T + b_in + r hn (``b``: the biases)."""
    m, n = hn.shape
    half = g.dtype.type(0.5)
    for r in range(m):
        gr, hnr = g[r], hn[r]
        for j in range(2 * n):
            gr[j] = gr[j] * half + half
        for j in range(n):
            gr[2 * n + j] += b[2 * n + j] + gr[j] * hnr[j]


@kernel(fastmath=_FAST)
def gru_output_step(g, hp, h):
    """h = n + z (hp - n), ``g`` holding (r, z, n)."""
    m, n = h.shape
    for r in range(m):
        gr, hpr, hr = g[r], hp[r], h[r]
        for j in range(n):
            nj = gr[2 * n + j]
            hr[j] = nj + gr[n + j] * (hpr[j] - nj)


@kernel(fastmath=_FAST)
def gru_backward_step(dh, gout, g, hn, hp, e, direct):
    """Backward through one GRU step: with the state gradient ``dh + gout``, ``e`` (m, 4H)
    gets the pre-activations' gradients in the columns [n (input side), r, z, n (hidden
    side)] and ``direct`` the part that reaches hp directly (z times the state gradient)."""
    m, n = dh.shape
    one = g.dtype.type(1)
    for r in range(m):
        hr, yr, gr, er, dr, hpr, hnr = dh[r], gout[r], g[r], e[r], direct[r], hp[r], hn[r]
        for j in range(n):
            dr[j] = (hr[j] + yr[j]) * gr[n + j]
        for j in range(n):
            z, nj = gr[n + j], gr[2 * n + j]
            er[2 * n + j] = (hpr[j] - nj) * (hr[j] + yr[j]) * (z * (one - z))
        for j in range(n):
            nj = gr[2 * n + j]
            er[j] = (hr[j] + yr[j] - dr[j]) * (one - nj * nj)
        for j in range(n):
            rj = gr[j]
            er[n + j] = er[j] * hnr[j] * (rj * (one - rj))
        for j in range(n):
            er[3 * n + j] = er[j] * gr[j]


@kernel(fastmath=_FAST)
def rnn_backward_step(dh, gout, y, relu, d):
    """Backward through one Elman step: ``d`` = (dh + gout) times the activation's derivative
    at the output ``y`` (relu'(0) = 0, as in PyTorch)."""
    m, n = dh.shape
    one = y.dtype.type(1)
    zero = y.dtype.type(0)
    for r in range(m):
        hr, yr, outr, dr = dh[r], gout[r], y[r], d[r]
        if relu:
            for j in range(n):
                dr[j] = (hr[j] + yr[j]) * (one if outr[j] > zero else zero)
        else:
            for j in range(n):
                dr[j] = (hr[j] + yr[j]) * (one - outr[j] * outr[j])
