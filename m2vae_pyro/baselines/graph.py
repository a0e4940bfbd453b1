"""Sparse graphs over the WARM training interactions, shared by the graph baselines (MVGAE, MvDGAE).

Every structure here is built once, from ``split.train_users``/``split.train_items`` only: a cold (validation or
test) item never has an interaction edge, so whatever a graph model computes for it comes from its content.
Graphs are coalesced ``torch.sparse`` COO matrices (no graph library); products with dense features keep autograd.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..data.split import ColdStartSplit


def warm_pairs(split: ColdStartSplit) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (user, item) training positives — warm items only."""
    pairs = np.unique(np.stack([split.train_users, split.train_items]).astype(np.int64), axis=1)
    return pairs[0], pairs[1]


def sparse(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
           values: np.ndarray | None = None) -> torch.Tensor:
    """A sparse matrix ``[shape]`` with ``values`` (default 1) at ``(rows, cols)``; duplicates are summed."""
    vals = torch.ones(len(rows)) if values is None else torch.as_tensor(values, dtype=torch.float32)
    index = torch.from_numpy(np.stack([rows, cols]).astype(np.int64))
    return torch.sparse_coo_tensor(index, vals, shape, check_invariants=True).coalesce()


def row_mean(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """``M[r, c] = 1 / deg(r)`` on the edges: ``M @ X`` averages each row's neighbours (an empty row gives 0)."""
    deg = np.bincount(rows, minlength=shape[0]).astype(np.float32)
    return sparse(rows, cols, shape, 1.0 / deg[rows])


def normalized_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """``D^-1/2 (A + I) D^-1/2`` over ``n_users + n_items`` nodes (users first, item ``i`` at ``n_users + i``).

    The symmetric GCN propagation of Kipf & Welling with self-loops (as MVGAE's ``BaseModel``): an item without a
    training edge keeps only its self-loop (weight 1), so its row is its own features.
    """
    n = n_users + n_items
    loops = np.arange(n)
    rows = np.concatenate([users, items + n_users, loops])
    cols = np.concatenate([items + n_users, users, loops])
    deg = np.bincount(rows, minlength=n).astype(np.float32)
    inv = deg ** -0.5
    return sparse(rows, cols, (n, n), inv[rows] * inv[cols])


def to_csr(m: torch.Tensor) -> torch.Tensor:
    """``m`` in CSR layout, without PyTorch's "CSR support is in beta" warning (the products used here are stable)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return m.to_sparse_csr()


class _SymmetricProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, ctx.adj @ grad  # Âᵀ = Â


def symmetric_product(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Â @ x`` for a symmetric sparse ``Â`` (e.g. :func:`normalized_adjacency`, in CSR), differentiable in ``x``.

    Autograd of a CSR product transposes ``Â`` (a sort of its entries) on every backward pass; since ``Âᵀ = Â`` the
    gradient is one more product with ``Â`` itself.
    """
    return _SymmetricProduct.apply(adj, x)


def select_rows(m: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The dense rows ``[len(rows), n_cols]`` of a sparse matrix (for within-batch proximity counts)."""
    return m.index_select(0, rows).to_dense()


class EvalCache:
    """Mixin for a :class:`TrainedBaseline` whose scores need one full-graph pass: the pass is cached while in
    eval mode (``evaluate`` scores many chunks) and dropped whenever the mode changes (each epoch, each reload)."""

    _cached = None

    def train(self, mode: bool = True):
        self._cached = None
        return super().train(mode)

    def cached(self, compute):
        if self.training:
            return compute()
        if self._cached is None:
            self._cached = compute()
        return self._cached
