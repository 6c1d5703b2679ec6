"""Embedding lookup: rows of a weight matrix picked by integer indices."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function


class Embedding(Function):
    # NOTE: the weight's gradient sums the upstream rows of every occurrence of an index. The
    # indices are sorted once, then each run of equal indices is summed in place by a tree
    # reduction (log2 of the longest run steps, each adding row i + s into row i for the rows
    # still in play): O(n log n + n * D) work and pairwise-summation accuracy; when runs are
    # long on average a loop of contiguous sums, one per run, is faster. np.add.at is
    # several times slower, a one-hot GEMM costs V * n * D, and np.add.reduceat pays a per-run
    # overhead that dominates when most indices are distinct (large vocabularies).
    @staticmethod
    def forward(ctx, indices, weight, padding_idx, scale_grad_by_freq):
        ctx.indices, ctx.wshape = indices, weight.shape
        ctx.padding_idx, ctx.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return np.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        idx = ctx.indices.reshape(-1)
        gw = np.zeros(ctx.wshape, grad.dtype)
        if idx.size == 0:
            return None, gw, None, None
        order = np.argsort(idx, kind="stable")
        sidx = idx[order]
        starts = np.flatnonzero(np.concatenate(([True], sidx[1:] != sidx[:-1])))
        counts = np.diff(starts, append=idx.size)
        gs = grad.reshape(idx.size, -1)[order]  # a new array: summed into in place
        longest = int(counts.max())
        if len(starts) * 16 <= idx.size:
            # NOTE: long runs on average (few distinct indices): one contiguous sum per run.
            sums = np.empty((len(starts), gs.shape[1]), gs.dtype)
            for j, (a, c) in enumerate(zip(starts.tolist(), counts.tolist())):
                np.add.reduce(gs[a:a + c], axis=0, out=sums[j])
        else:
            step = 1
            if longest > 1:
                pos = np.flatnonzero(np.repeat(counts > 1, counts))  # rows in runs of 2+
                rank = pos - np.repeat(starts, counts)[pos]  # position within its run
                size = np.repeat(counts, counts)[pos]
            while step < longest:
                keep = rank % (2 * step) == 0
                pos, rank, size = pos[keep], rank[keep], size[keep]
                live = pos[rank + step < size]
                gs[live] += gs[live + step]
                step *= 2
            sums = gs[starts]
        if ctx.scale_grad_by_freq:
            # NOTE: each row's gradient divided by how often its index occurs in the batch.
            sums /= counts.astype(sums.dtype)[:, None]
        gw[sidx[starts]] = sums
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0  # NOTE: the padding row is never updated.
        return None, gw, None, None


def _renorm_(weight, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the rows of ``weight`` used by ``idx`` whose norm exceeds max_norm."""
    w = weight._data  # NOTE: outside autograd, as PyTorch's embedding_renorm_ under no_grad.
    rows = np.unique(idx)
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    # NOTE: PyTorch's 1e-7 in max_norm / (norm + 1e-7) keeps the new norm just below max_norm.
    w[rows[big]] *= (max_norm / (norms[big] + 1e-7)).astype(w.dtype)[:, None]


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` indices.

    Args:
        input: integer indices of any shape; output shape is ``(*input.shape, embedding_dim)``.
        weight: the embedding matrix.
        padding_idx: this row gets no gradient (negative counts from the end).
        max_norm: rows used by ``input`` with a larger ``norm_type``-norm are rescaled in place.
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: sparse gradients are not available (chainrule's gradients are dense).

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> w = chainrule.arange(6.0).reshape(3, 2)
    >>> F.embedding(chainrule.tensor([[2, 0]]), w)
    tensor([[[4., 5.],
             [0., 1.]]])
    """
    from chainrule.tensor import Tensor

    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (chainrule has no "
                                  "sparse tensors; gradients are dense), use sparse=False")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                           f"shape {tuple(weight.shape)}")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected integer indices (int64 or int32), got dtype "
                           f"{idx.dtype} for input of shape {idx.shape}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"embedding: index {int(bad)} is out of range for a weight with "
                         f"{num} rows (indices must be in [0, {num - 1}])")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx={padding_idx} must be within "
                             f"num_embeddings={num}")
        padding_idx = padding_idx % num
    if max_norm is not None:
        _renorm_(weight, idx, float(max_norm), float(norm_type))
    return Embedding.apply(idx, weight, padding_idx, bool(scale_grad_by_freq))
