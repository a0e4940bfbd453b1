"""The untrained references every report carries (docs/design.md §4): random users, users by activity,
content × activity (and its earlier, weaker form ``content_activity_v1``)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import Dataset
from ..data.split import ColdStartSplit
from ..nn.content import dense_content


def random_scorer(ds: Dataset, split: ColdStartSplit, seed: int = 0):
    """Random users: a pseudo-random score per (user, item, seed), the same whatever the chunking.

    A hash instead of a stored table: an ``n_users × n_items`` table would not fit for the Amazon sets.
    """

    def score(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        x = (users[:, None].long() * ds.n_items + items[None, :].long() + seed * 7919) % (1 << 31)
        for _ in range(3):  # a few rounds of an LCG with xor-shift mixing
            x = (x * 1103515245 + 12345) % (1 << 31)
            x = x ^ (x >> 13)
        return x.float()

    return score


def activity(ds: Dataset, split: ColdStartSplit) -> torch.Tensor:
    """Training positives per user ``[n_users]``."""
    return torch.from_numpy(split.user_activity(ds.n_users).astype(np.float32))


def userpop_scorer(ds: Dataset, split: ColdStartSplit):
    """Users ranked by activity (number of training positives); the same for every item."""
    act = activity(ds, split)
    return lambda users, items: act[users][:, None].expand(-1, len(items))


# Training interactions whose content rows are gathered at once when the user profiles are summed: the whole gather
# is [interactions, content width] (82 GB on an ML-20M-size catalogue with 1,280-d images); chunks keep it to ~64 MB
# and add in the same order, so the profiles are the same bit for bit.
PROFILE_CHUNK_BYTES = 64 * 2**20


def _content_activity(ds: Dataset, split: ColdStartSplit, center_images: bool, shift: float):
    content = dense_content(ds, center_images)
    users, items = torch.from_numpy(split.train_users), torch.from_numpy(split.train_items)
    profile = torch.zeros(ds.n_users, content.shape[1])
    chunk = max(1, PROFILE_CHUNK_BYTES // (4 * max(1, content.shape[1])))
    for lo in range(0, len(users), chunk):
        profile.index_add_(0, users[lo:lo + chunk], content.index_select(0, items[lo:lo + chunk]))
    profile = torch.nn.functional.normalize(profile, dim=1)
    weight = torch.log1p(activity(ds, split))
    item_c = torch.nn.functional.normalize(content, dim=1)
    return lambda u, i: (profile[u] @ item_c[i].T + shift) * weight[u][:, None]


def content_activity_scorer(ds: Dataset, split: ColdStartSplit):
    """``(cos(item content, mean content of the user's warm positives) + 1) · log(1 + activity)``; no training.

    The content blocks (attributes, centred image features) are unit-normalised and concatenated (docs/design.md §4).
    The + 1 keeps the activity weight in charge where the similarity is small or negative: a user's activity is the
    strongest single signal of item-to-user ranking, and the cosine only reorders users of similar activity.
    """
    return _content_activity(ds, split, center_images=True, shift=1.0)


def content_activity_v1_scorer(ds: Dataset, split: ColdStartSplit):
    """The earlier form, kept for comparison: ``cos · log(1 + activity)`` on raw image features."""
    return _content_activity(ds, split, center_images=False, shift=0.0)


REFERENCES = {"userpop": userpop_scorer, "random": random_scorer, "content_activity": content_activity_scorer,
              "content_activity_v1": content_activity_v1_scorer}
