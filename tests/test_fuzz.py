"""Property tests: the real files, corrupted at random, either load into a dataset that matches the file or fail
with the one-line DataError — never a traceback from deep inside, never a silently wrong count."""

import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m2vae_pyro.data import DataError, load_dataset

pytestmark = pytest.mark.slow

CASES = {
    # dataset, file to corrupt, companion files, data lines in the file before the first data line
    "ml-100k/u.data": ("ml-100k", ["ml-100k/u.item", "ml-100k-posters.csv"], 0),
    "ml-100k/u.item": ("ml-100k", ["ml-100k/u.data", "ml-100k-posters.csv"], 0),
    "ml-latest-small/ratings.csv": ("ml-latest-small", ["ml-latest-small/movies.csv"], 1),
    "ml-latest-small/movies.csv": ("ml-latest-small", ["ml-latest-small/ratings.csv"], 1),
    "amazon-beauty/Beauty.txt": ("amazon-beauty", ["amazon-beauty/Beauty_item2attributes.json"], 0),
    "amazon-beauty/Beauty_item2attributes.json": ("amazon-beauty", ["amazon-beauty/Beauty.txt"], 0),
}


SWAPS = [(b"\t", b","), (b",", b"\t"), (b"|", b";"), (b" ", b","), (b",", b"|")]
KINDS = ["truncate", "swap_delimiter", "random_bytes", "encoding", "duplicate", "empty", "drop_line"]
corruptions = st.tuples(st.sampled_from(KINDS), st.floats(0, 1), st.integers(0, len(SWAPS) - 1), st.booleans(),
                        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=5),
                        st.sampled_from(["utf-16", "utf-8", "utf-32"]))


def corrupt(data: bytes, spec) -> bytes:
    """Apply one corruption, described by small values so that hypothesis reports stay readable."""
    kind, where, swap, whole, edits, encoding = spec
    lines = data.split(b"\n")
    k = min(int(where * len(lines)), len(lines) - 2)
    if kind == "truncate":
        return data[: int(where * (len(data) - 1))]
    if kind == "swap_delimiter":
        old, new = SWAPS[swap]
        if whole:
            return data.replace(old, new)
        lines[k] = lines[k].replace(old, new)
        return b"\n".join(lines)
    if kind == "random_bytes":
        buf = bytearray(data)
        for pos, value in edits:
            buf[int(pos * (len(buf) - 1))] = value
        return bytes(buf)
    if kind == "encoding":
        return data.decode("latin-1").encode(encoding)
    if kind == "duplicate":
        return b"\n".join(lines[: k + 1] + [lines[k]] + lines[k + 1 :])
    if kind == "drop_line":
        return b"\n".join(lines[:k] + lines[k + 1 :])
    return b""


@pytest.mark.parametrize("target", list(CASES))
def test_corrupted_file_loads_consistently_or_fails_cleanly(target, data_dir, tmp_path_factory):
    dataset, companions, header = CASES[target]
    original = (data_dir / target).read_bytes()
    root = tmp_path_factory.mktemp("fuzz")
    for rel in companions:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / rel, root / rel)
    (root / target).parent.mkdir(parents=True, exist_ok=True)

    @settings(max_examples=int(os.environ.get("M2VAE_FUZZ_EXAMPLES", 12)), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(corruptions)
    def check(spec):
        kind, corrupted = spec[0], corrupt(original, spec)
        (root / target).write_bytes(corrupted)
        try:
            ds = load_dataset(dataset, root)
        except DataError as exc:
            message = str(exc)
            assert "\n" not in message.strip() and message
            return
        # it loaded: the dataset must match what the files say
        assert ds.n_users > 0 and ds.n_items > 0 and ds.n_interactions > 0
        assert np.isfinite(ds.ratings).all() if ds.ratings is not None else True
        if target.endswith(("u.data", "ratings.csv")):
            text = corrupted.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
            rows = [ln for ln in text.split("\n")[header:] if ln.strip()]
            assert ds.n_interactions == len(rows), kind
        if target.endswith("Beauty.txt"):
            text = corrupted.decode("ascii")
            assert ds.n_interactions == sum(len(ln.split()) - 1 for ln in text.splitlines() if ln.strip()), kind
        assert len(np.unique(ds.users * ds.n_items + ds.items)) == ds.n_interactions  # no double counting

    check()
