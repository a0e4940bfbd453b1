"""Loader for the S3-Rec preprocessing of the Amazon 2014 5-core sets (``amazon-<category>/``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .dataset import Dataset, build_csr
from .errors import DataError
from .tables import check_unique


def find_amazon_files(folder: Path) -> tuple[Path, Path]:
    """The ``<Name>.txt`` / ``<Name>_item2attributes.json`` pair inside ``folder``."""
    if not folder.is_dir():
        raise DataError(folder, "dataset folder not found")
    attrs = sorted(folder.glob("*_item2attributes.json"))
    if len(attrs) != 1:
        raise DataError(folder, f"expected one <Name>_item2attributes.json, found {len(attrs)}")
    name = attrs[0].name[: -len("_item2attributes.json")]
    seqs = folder / f"{name}.txt"
    if not seqs.is_file():
        raise DataError(seqs, "file not found (the interaction file beside the attributes file)")
    return seqs, attrs[0]


def load_amazon(root: Path, dataset: str) -> Dataset:
    """``amazon-<category>``: one line per user (user id, then item ids); attributes only, no image."""
    seq_path, attr_path = find_amazon_files(root / dataset)
    item_attrs = _read_item_attributes(attr_path)
    item_ids = np.array(sorted(item_attrs), dtype=np.int64)
    attr_ids = np.array(sorted({a for v in item_attrs.values() for a in v}), dtype=np.int64)
    indptr, indices = build_csr([np.searchsorted(attr_ids, sorted(set(item_attrs[i]))) for i in item_ids.tolist()])

    raw_users, raw_items, lines = _read_sequences(seq_path)
    pos = np.searchsorted(item_ids, raw_items)
    unknown = item_ids[np.minimum(pos, len(item_ids) - 1)] != raw_items
    if unknown.any():
        row = int(np.argmax(unknown))
        raise DataError(seq_path, f"item {raw_items[row]} is not in {attr_path.name}", line=int(lines[row]))
    check_unique(seq_path, raw_users * (int(raw_items.max()) + 1) + raw_items, "interaction", lines,
                 show=lambda r: f"(user {raw_users[r]}, item {raw_items[r]})")
    user_ids, users = np.unique(raw_users, return_inverse=True)
    return Dataset(
        name=dataset, user_ids=user_ids, item_ids=item_ids, users=users.astype(np.int64), items=pos.astype(np.int64),
        ratings=None, attr_indptr=indptr, attr_indices=indices, attribute_names=[str(a) for a in attr_ids.tolist()],
        positive_threshold=None, root=root, family="amazon",
    )


def _read_item_attributes(path: Path) -> dict[int, list[int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DataError(path, "file is empty")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    if not isinstance(raw, dict):
        raise DataError(path, "expected one JSON object {item_id: [attribute ids]}")
    out: dict[int, list[int]] = {}
    for key, value in raw.items():
        try:
            item = int(key)
        except ValueError:
            raise DataError(path, f"item id {key!r} is not an integer") from None
        if not isinstance(value, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in value):
            raise DataError(path, f"attributes of item {key} must be a list of integer ids")
        out[item] = value
    return out


def _read_sequences(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ``user item item ...`` lines into parallel (user, item, line number) arrays."""
    if not path.is_file():
        raise DataError(path, "file not found")
    users: list[int] = []
    items: list[np.ndarray] = []
    lines: list[int] = []
    seen: set[int] = set()
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                raise DataError(path, "line holds non-ASCII bytes", line=lineno) from None
            fields = text.split()
            if not fields:
                raise DataError(path, "empty line", line=lineno)
            if not all(f.isdigit() for f in fields):
                bad = next(f for f in fields if not f.isdigit())
                raise DataError(path, f"id {bad!r} is not a non-negative integer", line=lineno)
            if len(fields) < 2:
                raise DataError(path, f"user {fields[0]} has no items", line=lineno)
            user = int(fields[0])
            if user in seen:
                raise DataError(path, f"user {user} appears on two lines", line=lineno)
            seen.add(user)
            users.append(user)
            items.append(np.array(fields[1:], dtype=np.int64))
            lines.append(lineno)
    if not users:
        raise DataError(path, "file is empty")
    counts = np.array([len(x) for x in items])
    return np.repeat(users, counts), np.concatenate(items), np.repeat(lines, counts)
