"""Scores of each example against a few rows of a table, without materialising a ``[B, K, d]`` backward.

The co-occurrence term (Eq. 20) compares each triple's ``e_new`` with its ``c_p + c_n`` co-items, and the
contrastive baselines compare an anchor with ``K`` candidate rows. Written with autograd over the gathered rows,
the backward of such a product builds ``[B, K, d]`` tensors several times over (a batched outer product, the norms'
backward, a scatter into the table): on ML-100K that was a third of an M²VAE training step (benchmarks/
profile_step.py). Here the backward is two weighted ``embedding_bag`` sums with the ``[B, K]`` gradient instead
(measured against sparse COO products: 3.7 vs 10.8 ms on 1,158 rows, 6.0 vs 24.4 ms on 27,000).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# Above this many table rows per candidate, gathering the candidates beats the full product in the forward pass
# (measured on one CPU thread: n/K = 10 and 25 → the product 11× and 3× faster; 85 and 385 → the gather 1.7× and 6×
# faster).
GATHER_ABOVE = 50
# The gathered rows of one block of examples (see _gather_then_dot): within a core's cache (1–4 MB measured best,
# 8 MB 10–60 % slower; benchmarks/probe_gather_dot.py).
GATHER_BYTES = 2 * 2**20


class _GatheredDot(torch.autograd.Function):
    """``out[b, k] = anchor[b] · rows[index[b, k]]`` with a sparse backward (see :func:`gathered_dot`)."""

    @staticmethod
    def forward(ctx, anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(anchor, rows, index)
        return _dot(anchor, rows, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        anchor, rows, index = ctx.saved_tensors
        return *_dot_backward(anchor, rows, index, grad, ctx.needs_input_grad[:2]), None


def _dot(anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    if rows.shape[0] > GATHER_ABOVE * index.shape[1]:
        return _gather_then_dot(anchor, rows, index)
    return (anchor @ rows.T).gather(1, index)  # the candidates cover much of the table (MovieLens)


def _dot_backward(anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor, grad: torch.Tensor,
                  needs: tuple[bool, bool]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gradients of :func:`_dot` with respect to ``anchor`` and ``rows``, each where ``needs`` says."""
    grad_anchor = grad_rows = None
    if needs[0]:  # Σ_k grad[b, k] rows[index[b, k]]: one weighted bag of rows per example
        grad_anchor = F.embedding_bag(index, rows, per_sample_weights=grad, mode="sum")
    if needs[1]:  # Σ_{(b, k): index[b, k] = j} grad[b, k] anchor[b]: one bag of examples per row
        flat = index.reshape(-1)
        order = torch.argsort(flat.int() if rows.shape[0] <= torch.iinfo(torch.int32).max else flat)  # int32:
        # half the time of an int64 sort (the order among equal ids only changes float summation order)
        offsets = torch.zeros_like(rows[:, 0], dtype=torch.long)
        offsets[1:] = torch.bincount(flat, minlength=rows.shape[0]).cumsum(0)[:-1]
        example = torch.div(order, index.shape[1], rounding_mode="floor")
        grad_rows = F.embedding_bag(example, anchor, offsets, per_sample_weights=grad.reshape(-1)[order], mode="sum")
    return grad_anchor, grad_rows


def _gather_then_dot(anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``vecdot(rows[index], anchor)`` over blocks of examples whose gathered rows fit one reused ``GATHER_BYTES``
    buffer: the whole ``[B, K, d]`` gather is a fresh allocation of ~100 MB a step at B = 4,096 (Amazon-size and
    ML-20M-size catalogues), written and read back from memory — the block stays in cache. The same values bit for
    bit whatever the block (each entry is the same length-``d`` dot product). ``torch.linalg.vecdot``, not ``bmm``:
    a batch of ``[K, d] × [d]`` products is a poor fit for a matrix kernel (at B = 4,096, K = 50 on two threads the
    blocked forward took 20.3 ms with ``bmm`` and 8-MB blocks, 7.4 ms with ``vecdot`` and 2-MB blocks; 97 ms as one
    gather; benchmarks/probe_gather_dot.py)."""
    n_examples, k = index.shape
    block = max(1, min(n_examples, GATHER_BYTES // max(1, k * rows.shape[1] * rows.element_size())))
    buffer = rows.new_empty(block * k, rows.shape[1])
    out = anchor.new_empty(n_examples, k)
    for lo in range(0, n_examples, block):
        hi = min(n_examples, lo + block)
        gathered = torch.index_select(rows, 0, index[lo:hi].reshape(-1), out=buffer[: (hi - lo) * k])
        torch.linalg.vecdot(gathered.view(hi - lo, k, -1), anchor[lo:hi].unsqueeze(1), out=out[lo:hi])
    return out


def gathered_dot(anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``anchor[b] · rows[index[b, k]]``: ``[B, d]``, ``[n, d]``, ``[B, K]`` (long) → ``[B, K]``.

    The same values as ``torch.bmm(rows[index], anchor[..., None])`` up to float summation order, and the same
    gradients. Forward: one ``[B, n]`` product then a gather when the candidates cover much of the table (MovieLens'
    few thousand items), the gathered ``[B, K, d]`` rows when the table is many times larger than ``K`` (Amazon's
    tens of thousands); backward: O(B·K·d) multiply-adds in two bags of rows, whatever ``n`` is.
    """
    if index.dim() != 2 or anchor.dim() != 2:
        raise ValueError(f"gathered_dot takes anchor [B, d] and index [B, K]; got {tuple(anchor.shape)}, "
                         f"{tuple(index.shape)}")
    return _GatheredDot.apply(anchor, rows, index)


class _DotToUnitRows(torch.autograd.Function):
    """``anchor[b] · normalize(rows)[index[b, k]]`` (``F.normalize``'s ``x / max(‖x‖, eps)``): the gathered dot with
    the rows' normalisation inside its backward (see :func:`cosine_to_rows`)."""

    @staticmethod
    def forward(ctx, anchor: torch.Tensor, rows: torch.Tensor, index: torch.Tensor, eps: float) -> torch.Tensor:
        norm = torch.linalg.vector_norm(rows, dim=-1, keepdim=True)
        denom = norm.clamp_min(eps)
        unit = rows / denom
        ctx.save_for_backward(anchor, unit, index, denom, norm >= eps)
        return _dot(anchor, unit, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        anchor, unit, index, denom, scaled = ctx.saved_tensors
        grad_anchor, grad_unit = _dot_backward(anchor, unit, index, grad, ctx.needs_input_grad[:2])
        grad_rows = None
        if grad_unit is not None:  # the normalisation's Jacobian (I − u uᵀ)/‖x‖, or I/eps where the norm is clamped
            radial = (grad_unit * unit).sum(-1, keepdim=True) * scaled
            grad_rows = grad_unit.sub_(unit * radial).div_(denom)
        return grad_anchor, grad_rows, None, None


def cosine_to_rows(x: torch.Tensor, table: torch.Tensor, index: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine of ``x[b]`` with ``table[index[b, k]]``: ``[B, d]``, ``[n, d]``, ``[B, K]`` → ``[B, K]``.

    Only the distinct rows the batch uses are normalised (``n`` may be a whole catalogue's embedding table), and
    their normalisation is part of the gathered dot's backward: autograd through ``F.normalize`` took ~15 passes over
    the ``[rows, d]`` block (~21k rows a step on an ML-20M-size catalogue at B = 4,096), this takes five.
    """
    if index.dim() != 2 or x.dim() != 2:
        raise ValueError(f"cosine_to_rows takes x [B, d] and index [B, K]; got {tuple(x.shape)}, {tuple(index.shape)}")
    rows, inverse = distinct(index, len(table))
    return cosine_to_gathered(x, table.index_select(0, rows), inverse, eps)


def cosine_to_gathered(x: torch.Tensor, rows: torch.Tensor, inverse: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """:func:`cosine_to_rows` with the distinct rows already looked up: ``rows = table[ids]`` and ``inverse`` the
    position of each ``index[b, k]`` in ``ids`` (:func:`distinct`). For a caller that looks those rows up together
    with others of the same table, so that the table gets one dense gradient a step instead of one per lookup."""
    return _DotToUnitRows.apply(F.normalize(x, dim=-1, eps=eps), rows, inverse, eps)


def distinct(index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(index, return_inverse=True)`` for indices in ``[0, n)``: the sorted distinct values and each
    entry's position among them.

    When the table is not much longer than the index, a mask over the table replaces the sort (O(n + len) instead
    of O(len log len): the co-occurrence term's 51,200 candidate ids were sorted in 1.6 ms a step on ML-100K)."""
    if n > 4 * index.numel():
        return torch.unique(index, return_inverse=True)
    seen = torch.zeros(n, dtype=torch.bool, device=index.device)
    seen[index] = True
    rows = seen.nonzero().squeeze(1)
    position = torch.empty(n, dtype=torch.long, device=index.device)
    position[rows] = torch.arange(len(rows), device=index.device)
    return rows, position[index]
