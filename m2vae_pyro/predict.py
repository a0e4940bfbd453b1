"""Who should see these items? Top-k users per item, and the embeddings behind them, with the dataset's raw ids.

``m2vae predict`` and ``m2vae export`` (cli.py) are thin wrappers of :func:`top_users`, :func:`predictions_frame`
and :func:`export_embeddings`. Scores come from :meth:`M2VAE.score_indices` (the exact per-pair gates, the model's
cold path for cold items); ties are broken by user index, so the same run always writes the same file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .atomic import atomic_write, check_writable
from .data.errors import DataError
from .data.split import ROLES
from .evaluation.protocols import candidate_users
from .m2vae import M2VAE

# Elements of one [items × users] score block (float32): bounds the memory of a prediction over many items.
_BLOCK = 1 << 24
# (item, user) rows of one posterior draw through the model and guide (predict --samples)
_PAIRS = 1 << 14


def read_id_file(path: Path) -> list[str]:
    """One id per line (blank lines and ``#`` comments skipped; a first line ``item`` is a header); a CSV with an
    ``item`` column also works."""
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid utf-8 text ({exc.reason} at byte {exc.start})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if lines and lines[0] == "item":
        lines = lines[1:]
    if lines and "," in lines[0]:
        header = [h.strip() for h in lines[0].split(",")]
        if "item" not in header:
            raise DataError(path, "line 1: a CSV needs an 'item' column (or write one id per line)")
        col = header.index("item")
        return [ln.split(",")[col].strip() for ln in lines[1:]]
    if not lines:
        raise DataError(path, "no ids in the file")
    return lines


def is_items_table(path: Path) -> bool:
    """Whether ``path`` is laid out like ``items.csv`` (a header with ``item`` and ``attributes``) rather than a
    list of ids."""
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return {"item", "attributes"} <= {h.strip() for h in header.split(",")}


def request_new_items(model: M2VAE, path: Path, images: Path | None = None, image_features: Path | None = None,
                      image_items: Path | None = None, allow_empty: bool = False, progress: bool = True) -> list[str]:
    """The ids of an items table (``items.csv`` layout): those the run has not seen are appended to ``model`` from
    the table's content (:meth:`M2VAE.add_items`); those it has are scored as they are."""
    from .data.new_items import read_new_items

    new = read_new_items(path, model.ds.attribute_names, images=images, image_features=image_features,
                         image_items=image_items, progress=progress)
    known = np.isin(np.asarray(new.ids, dtype=str), np.asarray(model.ds.item_ids, dtype=str))
    if known.any():
        warnings.warn(f"{path}: {int(known.sum())} item(s) the run already has are scored from the run's data, "
                      "not from this file", stacklevel=2)
    model.add_items(new.take(~known), allow_empty=allow_empty)
    return [str(v) for v in new.ids]


def select_items(model: M2VAE, ids: list[str] | None = None, role: str | None = None,
                 origin: Path | None = None) -> np.ndarray:
    """Item indices: the given raw ids, the cold items of ``role``, or (neither) every cold item."""
    if ids is not None and role is not None:
        raise DataError(None, "give items by id or by --role, not both")
    if ids is not None:
        return model.ds.item_index(list(dict.fromkeys(ids)), origin)  # a repeated id is scored once
    if role is not None:
        if role not in ROLES[1:]:
            raise DataError(None, f"--role {role!r}: choose validation or test")
        return model.split.items(role)
    return np.flatnonzero(model.split.role > 0)


def top_users(model: M2VAE, items: np.ndarray, k: int = 20, users: np.ndarray | None = None,
              exclude_known: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(user indices [I, k], scores [I, k])``: the ``k`` best users for each item, best first.

    Candidates are the training users (as in evaluation) or ``users``. ``exclude_known`` leaves out, for a warm
    item, the users whose training positive it already is. Equal scores are ordered by user index.
    """
    if k < 1:
        raise DataError(None, f"--k must be ≥ 1, got {k}")
    cand = candidate_users(model.split) if users is None else np.asarray(users, dtype=np.int64)
    k = min(k, len(cand))
    item_row, user_col = np.full(model.ds.n_items, -1), np.full(model.ds.n_users, -1)
    user_col[cand] = np.arange(len(cand))
    train = model.split.train_mask
    known_items, known_users = model.split.pos_items[train], model.split.pos_users[train]
    out_u, out_s = [], []
    step = max(1, _BLOCK // max(len(cand), 1))
    cand_t = torch.from_numpy(cand)
    for lo in range(0, len(items), step):
        block = items[lo : lo + step]
        scores = model.score_indices(cand_t, torch.from_numpy(block)).T.float()  # [I, U]
        if exclude_known:
            item_row[block] = np.arange(len(block))
            r, c = item_row[known_items], user_col[known_users]
            hit = (r >= 0) & (c >= 0)
            scores[torch.from_numpy(r[hit]), torch.from_numpy(c[hit])] = -torch.inf
            item_row[block] = -1
        # stable descending sort: ties keep the ascending user order of ``cand``
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        out_u.append(cand[order.numpy()])
        out_s.append(torch.gather(scores, 1, order).numpy())
    if not out_u:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    return np.concatenate(out_u), np.concatenate(out_s)


def posterior_top_users(model: M2VAE, items: np.ndarray, users: np.ndarray, top: np.ndarray, samples: int,
                        k: int, exclude_known: bool = True) -> dict[str, np.ndarray]:
    """For each pair of ``top`` (``[I, k']`` user indices per item, from :func:`top_users`): the posterior mean and sd
    of its score over ``samples`` draws, and the probability that the user is in the item's top ``k`` among the
    candidate ``users`` under the posterior (per draw, the user's rank among all candidates; known positives of a
    warm item are excluded from the ranking as in :func:`top_users`). Returns ``score_mean``, ``score_sd``,
    ``p_top`` each ``[I, k']``.
    """
    from .evaluation.posterior import draw_pair_scores

    col = np.full(model.ds.n_users, -1)
    col[users] = np.arange(len(users))
    train = model.split.train_mask
    known_items, known_users = model.split.pos_items[train], model.split.pos_users[train]
    out = {name: np.zeros(top.shape, np.float32) for name in ("score_mean", "score_sd", "p_top")}
    cold = model.split.role[items] != 0
    step = max(1, _PAIRS // max(len(users), 1))  # items per call: ~_PAIRS (item, user) rows, their draws in chunks
    for group in (np.flatnonzero(~cold), np.flatnonzero(cold)):
        for lo in range(0, len(group), step):
            rows = group[lo : lo + step]
            draws = draw_pair_scores(model.model, model.guide, items[rows], users, bool(cold[rows[0]]),
                                     samples)  # [S, I, U]
            for j, row in enumerate(rows):
                s = draws[:, j]
                if exclude_known:
                    s[:, col[known_users[known_items == items[row]]]] = -np.inf
                picked = s[:, col[top[row]]]  # [S, k']
                rank = (s[:, None, :] > picked[:, :, None]).sum(-1)  # users scoring higher in that draw
                out["score_mean"][row], out["score_sd"][row] = picked.mean(0), picked.std(0, ddof=1)
                out["p_top"][row] = (rank < k).mean(0)
    return out


def predictions_frame(model: M2VAE, items: np.ndarray, users: np.ndarray, scores: np.ndarray,
                      posterior: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """``item,rank,user,score`` rows with raw ids (rank 1 is the best; known positives, at −inf, are dropped), and
    the columns of :func:`posterior_top_users` when given."""
    n, k = users.shape
    frame = pd.DataFrame({"item": np.repeat(model.ds.item_ids[items], k), "rank": np.tile(np.arange(1, k + 1), n),
                          "user": model.ds.user_ids[users.reshape(-1)], "score": scores.reshape(-1)})
    for name, values in (posterior or {}).items():
        frame[name] = values.reshape(-1)
    return frame[np.isfinite(frame["score"])].reset_index(drop=True)


def refuse_overwrite(out: Path, force: bool) -> None:
    """Nothing the user has is replaced without ``--force``."""
    if out.exists() and not force:
        raise DataError(out, "exists; choose another --out or pass --force to replace it")
    check_writable(out)


def write_csv(frame: pd.DataFrame, out: Path, force: bool) -> None:
    refuse_overwrite(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def export_embeddings(model: M2VAE, items: np.ndarray, users: np.ndarray | None = None, samples: int = 0,
                      max_elements: int = 1 << 28) -> dict[str, np.ndarray]:
    """User embeddings and the items' generated embeddings ``e_new`` at the cold path's mean.

    ``e_new`` may depend on the user (the gates of Eq. 11–16 on the guide's cold path): it is then ``[I, U, d]``.
    When it does not — version 3's cold path is the content path plus a prior that reads no user — it is written
    once per item, ``[I, d]``, and ``e_new_per_user`` says which (decided on 8 users spread over the candidates: a
    spread below 1e-5 of the embeddings' scale is float noise). ``max_elements`` guards a catalogue-sized array.
    ``samples > 0`` adds posterior draws ``samples_e_new``/``samples_z`` ``[U', S, I, d]`` for each of ``users``
    (``U'`` = every given user), or, with no ``users``, for the most active training user (``U'`` = 1);
    ``samples_user_ids`` names them.
    """
    cand = candidate_users(model.split) if users is None else np.asarray(users, dtype=np.int64)
    d = model.config.d

    def embed(user_idx: np.ndarray) -> np.ndarray:  # [I, U, d]
        step = max(1, _BLOCK // max(len(user_idx) * model.config.decoder_hidden, 1))
        return np.concatenate([model.embed_indices(user_idx, items[lo : lo + step]).permute(1, 0, 2).numpy()
                               for lo in range(0, len(items), step)] or [np.zeros((0, len(user_idx), d), np.float32)])

    with torch.inference_mode():
        probe = embed(cand[np.unique(np.linspace(0, len(cand) - 1, min(8, len(cand))).astype(int))])
        scale = float(np.abs(probe).max(initial=0.0)) or 1.0
        per_user = bool(np.abs(probe - probe[:, :1]).max(initial=0.0) > 1e-5 * scale)
        if per_user and len(items) * len(cand) * d > max_elements:
            raise DataError(None, f"e_new for {len(items)} items × {len(cand)} users × d = {d} is "
                                  f"{len(items) * len(cand) * d:,} numbers; restrict --users or --items")
        e_new = embed(cand) if per_user else probe[:, 0]
        user_emb = model.nets.user_emb.weight[torch.from_numpy(cand).to(model.device)].cpu().numpy()
    out = {"item_ids": model.ds.item_ids[items], "user_ids": model.ds.user_ids[cand], "user_embedding": user_emb,
           "e_new": e_new, "e_new_per_user": np.array(per_user), "item_role": item_roles(model, items)}
    if samples:
        drawn = [int(np.argmax(model.split.user_activity(model.ds.n_users)))] if users is None else cand.tolist()
        per = [model.sample_posterior_indices(items, user, num_samples=samples) for user in drawn]
        out["samples_e_new"] = np.stack([np.asarray(p.samples["e_new"]) for p in per])
        out["samples_z"] = np.stack([np.asarray(p.samples["z"]) for p in per])
        out["samples_user_ids"] = model.ds.user_ids[np.array(drawn)]
    return out


def item_roles(model: M2VAE, items: np.ndarray) -> np.ndarray:
    """Each item's role in the run: train, validation, test, unused (in the data, no positive) or new (appended
    after training)."""
    roles = np.array([*ROLES, "unused"])[model.split.role[items]]
    return np.where(items >= model.nets.n_items, "new", roles)


def write_npz(arrays: dict[str, np.ndarray], out: Path, force: bool) -> None:
    refuse_overwrite(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a temporary name
            np.savez_compressed(fh, **arrays)

    atomic_write(out, write)
