"""Vectorised samplers for training triples and co-occurrence items (no per-example Python loops).

A triple is (item ``i``, positive user ``u``, negative user ``u⁻``): ``u⁻`` is uniform among users with no
training positive on ``i``. For the co-occurrence loss (Eq. 20) each triple also gets ``c_p`` positive warm items
of ``u`` (other than ``i`` where ``u`` has others) and ``c_n`` warm items ``u`` has no positive on. Cold items
never appear: every structure here is built from the training positives of a :class:`ColdStartSplit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .split import ColdStartSplit

_MAX_ROUNDS = 64  # rejection rounds; each keeps ≥ 1/2 of the remaining draws unless the data are degenerate


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` by a sort: numpy 2.4 dedupes through a hash table, which at ML-20M size (16M distinct
    keys) takes ~30 s against 0.2 s for the sort."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


class PairSet:
    """Membership of (user, item) pairs: a bitset over ``n_users × n_items`` (small), else sorted keys."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
        self.n_items = n_items
        # int32 keys where they fit: half the memory traffic on the hot lookup path.
        self._dtype = np.int32 if n_users * n_items < 1 << 31 else np.int64
        keys = _sorted_unique(users.astype(np.int64) * n_items + items)
        self._dense = n_users * n_items <= 1 << 33  # ≤ 1 GiB of bits
        if self._dense:
            byte, bit = keys >> 3, (keys & 7).astype(np.uint8)
            starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self._bits = np.zeros((n_users * n_items + 7) // 8, dtype=np.uint8)
            if len(keys):
                self._bits[byte[starts]] = np.bitwise_or.reduceat(np.left_shift(1, bit).astype(np.uint8), starts)
        else:
            self._keys = keys

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(self._dtype) * self._dtype(self.n_items) + items.astype(self._dtype)
        if self._dense:
            return ((self._bits[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).view(bool)
        if not len(self._keys):
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[pos] == keys


@dataclass
class Triples:
    """A batch of training examples; all arrays are int64 indices. Shapes: ``[B]`` and ``[B, c_p]``/``[B, c_n]``."""

    index: np.ndarray  # position in the training positives, for plate subsampling
    items: np.ndarray
    pos_users: np.ndarray
    neg_users: np.ndarray
    pos_items: np.ndarray
    neg_items: np.ndarray

    def __len__(self) -> int:
        return len(self.items)


class TripleSampler:
    """Draws :class:`Triples` from the training positives of a split.

    Built once per split (structures are reused every epoch). ``epoch(seed, epoch, batch_size)`` yields the
    training positives in a permutation derived from ``(seed, epoch)`` only, so a run resumes exactly.
    """

    def __init__(self, split: ColdStartSplit, n_users: int, n_items: int, c_p: int = 10, c_n: int = 40):
        self.users = split.train_users.astype(np.int64)
        self.items = split.train_items.astype(np.int64)
        if len(self.users) == 0:
            raise ValueError("the split has no training positives")
        self.n_users, self.n_items, self.c_p, self.c_n = n_users, n_items, c_p, c_n
        self.warm_items = split.items("train")
        self.pairs = PairSet(self.users, self.items, n_users, n_items)
        order = np.lexsort((self.items, self.users))
        self.user_items = self.items[order]  # CSR of each user's warm positives
        self.user_degree = np.bincount(self.users, minlength=n_users)
        self.user_ptr = np.r_[0, np.cumsum(self.user_degree)]
        item_degree = np.bincount(self.items, minlength=n_items)
        if (item_degree >= n_users).any():
            raise ValueError(f"item {int(np.argmax(item_degree))} is positive for every user: no negative user")
        if (self.user_degree >= len(self.warm_items)).any():
            raise ValueError("a user is positive on every warm item: no negative item")

    def __len__(self) -> int:
        return len(self.users)

    def sample(self, rng: np.random.Generator, index: np.ndarray | None = None, n: int | None = None) -> Triples:
        """Triples for the training positives at ``index`` (or ``n`` drawn uniformly)."""
        if index is None:
            index = rng.integers(0, len(self.users), size=n)
        users, items = self.users[index], self.items[index]
        return Triples(index=index, items=items, pos_users=users, neg_users=self.negative_users(rng, items),
                       pos_items=self.positive_items(rng, users, items), neg_items=self.negative_items(rng, users))

    def negative_users(self, rng: np.random.Generator, items: np.ndarray, k: int | None = None) -> np.ndarray:
        """Users without a training positive on each item, uniform, with replacement: ``[B]``, or ``[B, k]``."""
        item = items if k is None else np.repeat(items, k)
        out = self._reject(rng, lambda size: rng.integers(0, self.n_users, size=size),
                           lambda cand, rows: self.pairs.contains(cand, item[rows]), len(item))
        return out if k is None else out.reshape(len(items), k)

    def positive_items(self, rng: np.random.Generator, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``[B, c_p]`` warm positives of each user, with replacement, avoiding the triple's own item."""
        u = np.repeat(users, self.c_p)
        own = np.repeat(items, self.c_p)
        deg = self.user_degree[u]

        def draw(rows_or_size):
            rows = np.arange(rows_or_size) if np.isscalar(rows_or_size) else rows_or_size
            return self.user_items[self.user_ptr[u[rows]] + (rng.random(len(rows)) * deg[rows]).astype(np.int64)]

        out = draw(len(u))
        redo = np.flatnonzero((out == own) & (deg > 1))
        for _ in range(_MAX_ROUNDS):
            if not len(redo):
                break
            out[redo] = draw(redo)
            redo = redo[(out[redo] == own[redo])]
        return out.reshape(len(users), self.c_p)

    def negative_items(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """``[B, c_n]`` warm items the user has no positive on, uniform, with replacement."""
        u = np.repeat(users.astype(np.int32), self.c_n)
        warm = self.warm_items.astype(np.int32)
        out = self._reject(rng, lambda size: warm[rng.integers(0, len(warm), size=size, dtype=np.int32)],
                           lambda cand, rows: self.pairs.contains(u[rows], cand), len(u))
        return out.astype(np.int64).reshape(len(users), self.c_n)

    def epoch(self, seed: int, epoch: int, batch_size: int, start: int = 0, shard: tuple[int, int] = (0, 1)):
        """Yield the batches of one epoch; ``start`` skips the first batches (resume mid-epoch).

        ``shard=(rank, world)``: every rank walks the same permutation in global batches of ``batch_size`` and
        keeps every ``world``-th triple from position ``rank`` (data-parallel training); a last global batch too
        small to give every rank a triple is dropped so that all ranks take the same number of steps.
        """
        rank, world = shard
        rng = np.random.default_rng([seed, epoch])
        perm = rng.permutation(len(self.users))
        for k, lo in enumerate(range(0, len(perm), batch_size)):
            if k < start:
                continue
            index = perm[lo : lo + batch_size]
            if world > 1:
                if len(index) < world:
                    return
                index = index[rank::world]
            batch_rng = np.random.default_rng([seed, epoch, k] if world == 1 else [seed, epoch, k, rank])
            yield self.sample(batch_rng, index=index)

    def n_batches(self, batch_size: int, world: int = 1) -> int:
        """Batches per epoch; with ``world`` ranks a last global batch smaller than ``world`` is dropped."""
        full, rest = divmod(len(self.users), batch_size)
        return full + (rest >= world)

    @staticmethod
    def _reject(rng, draw, is_bad, size: int) -> np.ndarray:
        out = draw(size)
        redo = np.flatnonzero(is_bad(out, slice(None)))
        for _ in range(_MAX_ROUNDS):
            if not len(redo):
                return out
            out[redo] = draw(len(redo))
            redo = redo[is_bad(out[redo], redo)]
        if len(redo):
            raise RuntimeError(f"rejection sampling did not converge ({len(redo)} draws left)")
        return out
