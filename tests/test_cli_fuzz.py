"""The command line under generated invocations (issue 32): every subcommand with its real options, fed bad paths,
bad values, unwritable outputs, unknown ids and ``none`` wherever a value goes. Whatever the invocation: no
traceback, exit 0 or 2, and nothing changed outside ``--out`` (besides what a command writes into a run by design:
``evaluate``'s ``metrics.json``, ``analyze``'s ``analysis/``)."""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m2vae_pyro.cli import main

from synthetic import shop_folder

pytestmark = pytest.mark.slow

BASE: dict[str, Path] = {}
COUNTER = itertools.count()
TALLY: collections.Counter = collections.Counter()  # (command, exit code): printed at the end (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    folder = shop_folder(base / "shop")[0]
    run = base / "run"
    assert main(["train", str(folder), "--out", str(run), "--epochs", "1", "--set", "d=16"]) == 0
    (base / "new.csv").write_text("item,attributes\nn1,red|wool\nn2,neon\n")
    (base / "ids.txt").write_text("i01\ni02\ni01\n")
    (base / "a_file.txt").write_text("not a folder")
    BASE.update(base=base, folder=folder, run=run)
    yield
    print("\nCLI fuzz, invocations by (command, exit code):", dict(sorted(TALLY.items())))


def snapshot(base: Path, out: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``base`` but ``out`` and the run's by-design outputs: (size, mtime)."""
    skip = (out, BASE["run"] / "metrics.json", BASE["run"] / "analysis")
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in base.rglob("*")
            if p.is_file() and not any(p == s or s in p.parents for s in skip)}


def path_values(kind: str):
    """A path of ``kind`` — the right one about half the time (so that the commands get past their first check and
    run), else a missing path, a file where a folder goes, an unwritable place or nothing."""
    b = BASE
    bad = [b["base"] / "nope", b["base"] / "a_file.txt", Path("/proc/m2vae-fuzz"), Path("")]
    good = {"run": [b["run"]], "folder": [b["folder"]], "items": [b["base"] / "new.csv", b["base"] / "ids.txt"]}
    right = good.get(kind, [])
    return st.sampled_from([str(p) for p in right * (len(bad) // max(len(right), 1)) + bad])


IDS = st.sampled_from(["u1", "u2,u3", "i01", "i05,i07", "h1,h2", "zzz", "none", "", "u1,u1", "i01,i01", "i01,zzz",
                       ","])
SETS = st.sampled_from(["threshold=none", "lr=abc", "d=none", "epochs=0", "prior=vamp", "nosuchfield=1", "=",
                        "ks=", "ks=5,x", "sigma_obs=none", "variant=w/o-dcl", "preset=v9", "alpha_dcl=-1", "d=8"])


def option(name: str, values) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [name, v]))


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


@st.composite
def invocation(draw) -> list[str]:
    out = str(BASE["base"] / "outs" / f"o{next(COUNTER)}")
    outs = st.sampled_from([out + ".csv", out + ".npz", out + ".csv", out + ".npz", out, "/proc/m2vae-fuzz/o.csv",
                            str(BASE["base"]), str(BASE["run"]), ""])
    command = draw(st.sampled_from(["predict", "export", "evaluate", "config", "list", "check", "summary",
                                    "train", "analyze", "experiment", "tune"]))
    parts: list[list[str]] = []
    if command in ("predict", "export"):
        # a valid invocation with at most one option broken: most get past their checks and do the work
        good = {"run": [str(BASE["run"])],
                "items": draw(st.sampled_from([[], ["--items", "i01,h1"], ["--items", "i05,i05"], ["--role", "test"],
                                               ["--items-file", str(BASE["base"] / "new.csv")],
                                               ["--items-file", str(BASE["base"] / "ids.txt")]])),
                "users": draw(st.sampled_from([[], ["--users", "u1,u2,u1"]])),
                "samples": draw(st.sampled_from([[], ["--samples", "0"]])),
                "data": draw(st.sampled_from([[], ["--data-dir", str(BASE["folder"])]])),
                "out": ["--out", out + (".csv" if command == "predict" else ".npz")],
                "k": draw(st.sampled_from([[], ["--k", "3"]])) if command == "predict" else []}
        bad = {"run": [draw(path_values("none"))],
               "items": draw(st.sampled_from([["--items", "zzz"], ["--items", ","], ["--items", "none"],
                                              ["--role", "train"], ["--items-file", str(BASE["base"] / "nope")],
                                              ["--items-file", str(BASE["base"] / "a_file.txt")],
                                              ["--images", str(BASE["folder"])], ["--image-items", "x.csv"]])),
               "users": draw(st.sampled_from([["--users", "zzz"], ["--users", ""], ["--users", "none"]])),
               "samples": draw(st.sampled_from([["--samples", "1"], ["--samples", "-1"], ["--samples", "abc"]])),
               "data": ["--data-dir", draw(st.sampled_from([str(BASE["base"] / "nope"), str(BASE["base"]),
                                                              str(BASE["base"] / "a_file.txt")]))],
               "out": ["--out", draw(st.sampled_from(["/proc/m2vae-fuzz/o.csv", str(BASE["base"]), str(BASE["run"]),
                                                       "", str(BASE["base"] / "a_file.txt")]))],
               "k": ["--k", draw(st.sampled_from(["0", "-1", "abc", "none"]))] if command == "predict" else []}
        broken = draw(st.sampled_from([None, None, *good]))
        chosen = {k: (bad if k == broken else good)[k] for k in good}
        parts = [[command, *chosen.pop("run")], *chosen.values(), draw(flag("--force")),
                 draw(flag("--include-known")) if command == "predict" else []]
    elif command == "evaluate":
        parts = [["evaluate", draw(path_values("run"))],
                 draw(option("--split", st.sampled_from(["both", "test", "x"]))), draw(option("--out", outs)),
                 draw(flag("--force"))]
    elif command == "config":
        parts = [["config", "show"], draw(st.one_of(st.just([]), st.sampled_from(
                     ["ml-100k", "amazon-beauty", "nosuch", str(BASE["folder"]), ""]).map(lambda v: [v]))),
                 draw(option("--preset", st.sampled_from(["v2", "default", "bogus"]))),
                 draw(option("--set", SETS)), draw(option("--variant", st.sampled_from(["full", "w/o-dcl", "x"]))),
                 draw(option("--config", path_values("items"))), draw(flag("--toml"))]
    elif command == "list":
        parts = [["list"], draw(option("--data-dir", path_values("folder")))]
    elif command == "check":
        parts = [["data", "check", draw(path_values("folder"))]]
    elif command == "summary":
        parts = [["data", "summary", draw(st.sampled_from(["ml-100k", "nosuch", str(BASE["folder"])]))],
                 draw(option("--data-dir", path_values("folder")))]
    elif command == "train":  # always one invalid setting: a valid run would train (the other tests do)
        parts = [["train", draw(path_values("folder"))], ["--out", draw(outs)],
                 draw(st.sampled_from([["--epochs", "0"], ["--epochs", "abc"], ["--epochs", "none"],
                                       ["--epochs", "-2"], ["--seed", "x"], ["--prior", "bogus"]])),
                 draw(option("--set", SETS)), draw(flag("--force"))]
    elif command == "analyze":  # only invalid sample counts or runs: a valid analysis takes minutes
        parts = [["analyze", draw(path_values("run"))],
                 draw(st.sampled_from([["--samples", "1"], ["--samples", "0"], ["--samples", "x"],
                                       ["--user", "zzz", "--samples", "-5"]]))]
    elif command in ("experiment", "tune"):  # invalid budgets or names only
        parts = [[command, draw(st.sampled_from(["ml-100k", "nosuch", str(BASE["folder"])]))], ["--out", out],
                 draw(st.sampled_from([["--seeds", "0"], ["--seeds", "x"], ["--models" if command == "experiment"
                                                                             else "--model", "bogus"]])),
                 draw(option("--set", SETS))]
    return [a for part in parts for a in part]


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(invocation())
def test_cli_never_tracebacks_and_writes_only_its_out(argv):
    base = BASE["base"]
    out = next((Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--out"), base / "outs" / "none")
    before = snapshot(base, out)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: a usage error (2), or --help/--version (0)
            code = exc.code
    TALLY[argv[0] if argv[0] != "data" else f"data {argv[1]}", code] += 1
    assert code in (0, 2), (argv, code, stderr.getvalue())
    assert "Traceback" not in stderr.getvalue(), (argv, stderr.getvalue())
    assert snapshot(base, out) == before, argv
    if out.is_dir() and out.parent == base / "outs":
        shutil.rmtree(out, ignore_errors=True)
