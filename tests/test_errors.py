"""Bad input gives one line naming the file and the line or id, exit code non-zero, no traceback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m2vae_pyro.data import DataError, load_dataset

from conftest import ML100K_FILES


def _edit_line(path: Path, lineno: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[lineno - 1] = new
    path.write_bytes(b"\n".join(lines))


def test_missing_file(copy_dataset):
    root = copy_dataset("ml-100k/u.item", "ml-100k-posters.csv")
    with pytest.raises(DataError, match=r"u\.data: file not found"):
        load_dataset("ml-100k", root)


def test_non_numeric_item_id_names_line(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    _edit_line(root / "ml-100k/u.data", 777, b"196\tabc\t3\t881250949")
    with pytest.raises(DataError) as err:
        load_dataset("ml-100k", root)
    assert err.value.line == 777 and err.value.path.name == "u.data"
    assert "u.data line 777" in str(err.value) and "'abc'" in str(err.value)


def test_wrong_field_count_names_line(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    _edit_line(root / "ml-100k/u.data", 12, b"196\t242\t3\t881250949\t7")
    with pytest.raises(DataError, match=r"u\.data line 12: malformed line: expected 4 fields, found 5"):
        load_dataset("ml-100k", root)


def test_rating_outside_scale(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    _edit_line(root / "ml-100k/u.data", 5, b"196\t242\t9\t881250949")
    with pytest.raises(DataError, match=r"u\.data line 5: rating 9 is outside the scale 1–5"):
        load_dataset("ml-100k", root)


def test_half_star_off_grid(copy_dataset):
    root = copy_dataset("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv")
    _edit_line(root / "ml-latest-small/ratings.csv", 3, b"1,3,4.3,964981247\r")
    with pytest.raises(DataError, match=r"ratings\.csv line 3: rating 4.3"):
        load_dataset("ml-latest-small", root)


def test_item_missing_from_item_file(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    _edit_line(root / "ml-100k/u.data", 40, b"196\t99999\t3\t881250949")
    with pytest.raises(DataError, match=r"u\.data line 40: item 99999 is not in the item file"):
        load_dataset("ml-100k", root)


def test_duplicated_rating_line(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    path = root / "ml-100k/u.data"
    first = path.read_bytes().split(b"\n")[0]
    _edit_line(path, 30, first)
    with pytest.raises(DataError, match=r"u\.data line 30: duplicate rating \(user 196, item 242\)"):
        load_dataset("ml-100k", root)


def test_amazon_unknown_item_and_bad_json(copy_dataset):
    files = ("amazon-beauty/Beauty.txt", "amazon-beauty/Beauty_item2attributes.json")
    root = copy_dataset(*files)
    _edit_line(root / files[0], 3, b"3 1 2 777777")
    with pytest.raises(DataError, match=r"Beauty\.txt line 3: item 777777"):
        load_dataset("amazon-beauty", root)
    root = copy_dataset(*files)
    (root / files[1]).write_text('{"1": [1, 2], "2": [3,')
    with pytest.raises(DataError, match=r"Beauty_item2attributes\.json line 1: invalid JSON"):
        load_dataset("amazon-beauty", root)


def test_corrupt_image_names_file(tmp_path):
    from m2vae_pyro.data.images import load_image

    bad = tmp_path / "42.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(DataError, match=r"42\.jpg: .*unreadable or corrupt image"):
        load_image(bad)


def test_nan_feature_names_item(data_dir):
    ds = load_dataset("ml-100k", data_dir)
    feats = np.zeros((ds.n_items, 8), dtype=np.float32)
    feats[10, 3] = np.nan
    with pytest.raises(DataError, match=rf"^features.npy: image feature of item {ds.item_ids[10]} contains NaN"):
        ds.set_features("image", feats, np.ones(ds.n_items, bool), origin="features.npy")
    feats[10, 3] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        ds.set_features("image", feats, np.ones(ds.n_items, bool), origin="features.npy")
    # an absent item's row is never read, so garbage there is no error
    present = np.ones(ds.n_items, bool)
    present[10] = False
    ds.set_features("image", feats, present, origin="features.npy")
    assert ds.modalities["image"].features[10].sum() == 0


def test_cli_one_line_no_traceback(copy_dataset):
    root = copy_dataset(*ML100K_FILES)
    _edit_line(root / "ml-100k/u.data", 777, b"196\tabc\t3\t881250949")
    proc = subprocess.run([sys.executable, "-m", "m2vae_pyro", "data", "summary", "ml-100k", "--data-dir", str(root)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "u.data line 777" in lines[0]
