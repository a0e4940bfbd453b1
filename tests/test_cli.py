"""The command line as a new user meets it: the resolved config, bad values, what a run records, --force."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m2vae_pyro.cli import main
from m2vae_pyro.config import Config, parse_field, resolve_config
from m2vae_pyro.data.errors import DataError

FIELDS = list(Config.__dataclass_fields__)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert main(["data", "synth", "cli", "--out", str(root), "--users", "60", "--items", "90", "--per-user", "8",
                 "--image-dim", "8"]) == 0
    return root


def test_config_show_lists_every_field_with_its_source(capsys):
    assert main(["config", "show", "ml-100k", "--set", "lr=3e-4", "--set", "ks=5,10"]) == 0
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(FIELDS)
    assert lines["lr"] == ["0.0003", "command", "line"] and lines["ks"][0] == "5,10"
    assert lines["beta_co"] == ["0.01", "tuned", "(ml-100k)"]  # version 2's ML-100K search result
    assert lines["c_n"] == ["40", "paper", "(movielens)"] and lines["d"] == ["128", "default"]
    cfg, sources = resolve_config("amazon-beauty", preset="paper-literal")
    assert cfg.threshold is None and sources["threshold"] == "paper (amazon)"
    assert sources["prior"] == "preset paper-literal" and cfg.prior == "moe"


def test_set_parses_lists_none_and_bare_words():
    assert parse_field("ks", "5,10") == (5, 10) == parse_field("ks", "[5, 10]")
    assert parse_field("ks", "[10]") == (10,)
    assert parse_field("sigma_obs", "none") is None and parse_field("threshold", "null") is None
    assert parse_field("common", "none") == "none"  # a str field keeps the word
    assert parse_field("lr", "3e-4") == 3e-4 and parse_field("self_gate", "false") is False
    with pytest.raises(DataError, match="did you mean lr"):
        parse_field("lrr", "1")
    with pytest.raises(DataError, match="valid fields: epochs, patience, .*, d, decoder_hidden"):
        parse_field("no_such_field", "1")
    with pytest.raises(DataError, match="cannot be none"):
        parse_field("lr", "none")


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "seed must be ≥ 0"),
    (["--set", "ks=10"], "ks is a list"),
    (["--set", "ks=5,x"], "list of integers"),
    (["--set", "ks=0,5"], "integers ≥ 1"),
    (["--set", "lr=-1"], "lr must be > 0"),
    (["--set", "lr=0"], "lr must be > 0"),
    (["--set", "d=0"], "d must be ≥ 1"),
    (["--set", "batch_size=-4"], "batch_size must be ≥ 1"),
    (["--set", "cold_fraction=1"], "cold_fraction must lie in (0, 1)"),
    (["--set", "no_such_field=3"], "not a Config field"),
    (["--epochs", "0"], "epochs must be ≥ 1"),
])
def test_bad_values_stop_train_before_anything_is_written(synth_dir, tmp_path, capsys, argv, message):
    run = tmp_path / "run"
    assert main(["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(run), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not run.exists()


values = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["none", "[", "]", "[1,", "1,2,3", "true", "-0", "1e309", "nan", "-inf", "{}"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), value=values)
def test_fuzzed_set_values_never_give_a_traceback(capsys, field, value):
    """Any --set either resolves to a valid Config (exit 0) or stops with one line (exit 2)."""
    rc = main(["config", "show", "ml-100k", f"--set={field}={value}"])
    out, err = capsys.readouterr()
    assert rc in (0, 2)
    if rc == 2:
        assert err.startswith("m2vae: error: ") and len(err.strip().splitlines()) == 1
    else:
        assert len(out.splitlines()) == len(FIELDS)


def test_run_records_provenance_and_log_and_force_clears_old_outputs(synth_dir, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(run), "--epochs", "1"]
    assert main(argv) == 0
    assert "config: epochs=" in capsys.readouterr().out
    record = json.loads((run / "provenance.json").read_text())
    assert {"version", "git", "command", "python", "torch", "pyro", "device", "started"} <= set(record)
    assert record["command"] == ["m2vae", *argv]
    log = (run / "log.txt").read_text()
    assert "config: epochs=" in log and "epoch 1:" in log and "\r" not in log
    (run / "metrics.json").write_text("{}")  # a stale output of the previous run …
    (run / "analysis").mkdir()
    (run / "notes.md").write_text("mine")  # … and a file of the user's
    assert main(argv + ["--force"]) == 0
    assert not (run / "metrics.json").exists() and not (run / "analysis").exists()
    assert (run / "notes.md").read_text() == "mine"
    assert log.count("config: epochs=") == (run / "log.txt").read_text().count("config: epochs=")  # a fresh log


def test_failed_train_leaves_no_run_directory(synth_dir, tmp_path, monkeypatch, capsys):
    from m2vae_pyro.train.errors import TrainingError
    from m2vae_pyro.train.trainer import Trainer

    def explode(self, *args, **kwargs):
        raise TrainingError("non-finite loss (test)")

    monkeypatch.setattr(Trainer, "run", explode)
    run = tmp_path / "new" / "run"
    assert main(["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(run), "--epochs", "1"]) == 3
    assert not run.exists()
    assert main(["train", "no-such-set", "--data-dir", str(synth_dir), "--out", str(run)]) == 2
    assert not run.exists()


@pytest.fixture(scope="module")
def synth_run(synth_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "r"
    assert main(["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(run), "--epochs", "2"]) == 0
    return run


def test_predict_writes_top_users_with_raw_ids_and_export_matches_it(synth_run, tmp_path):
    import numpy as np
    import pandas as pd

    from m2vae_pyro.runs import load_run

    model = load_run(synth_run)
    out = tmp_path / "p.csv"
    assert main(["predict", str(synth_run), "--role", "test", "--k", "4", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"item": str, "user": str})
    test_items = model.split.items("test")
    assert list(frame.columns) == ["item", "rank", "user", "score"]
    assert set(frame["item"]) == {str(v) for v in model.ds.item_ids[test_items]}
    assert (frame.groupby("item")["rank"].apply(list) == [[1, 2, 3, 4]] * len(test_items)).all()
    assert (frame.groupby("item")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    # the scores are the model's, for the raw user ids written
    row = frame.iloc[0]
    expect = model.score([row["user"]], [row["item"]]).item()  # raw ids, as read from the file
    assert row["score"] == pytest.approx(expect, rel=1e-4, abs=1e-5)
    assert main(["predict", str(synth_run), "--role", "test", "--out", str(out)]) == 2  # never overwritten silently

    npz = tmp_path / "e.npz"
    assert main(["export", str(synth_run), "--role", "test", "--samples", "3", "--out", str(npz)]) == 0
    arrays = np.load(npz)
    # version 3's cold path reads no user: e_new is written once per item, and says so
    assert not arrays["e_new_per_user"] and arrays["e_new"].shape == (len(test_items), model.config.d)
    assert arrays["samples_e_new"].shape == (1, 3, len(test_items), model.config.d)  # the most active user's draws
    # e_new · e_u is the score predict ranked by
    i = list(arrays["item_ids"].astype(str)).index(row["item"])
    u = list(arrays["user_ids"].astype(str)).index(row["user"])
    assert float(arrays["e_new"][i] @ arrays["user_embedding"][u]) == pytest.approx(expect, rel=1e-4, abs=1e-5)
    users = ",".join(map(str, model.ds.user_ids[:2]))
    assert main(["export", str(synth_run), "--role", "test", "--users", users, "--samples", "2", "--out",
                 str(tmp_path / "e2.npz")]) == 0
    two = np.load(tmp_path / "e2.npz")
    assert two["samples_e_new"].shape[:2] == (2, 2) and list(two["samples_user_ids"].astype(str)) == users.split(",")


def test_predict_by_id_excludes_known_positives_and_names_unknown_ids(synth_run, tmp_path, capsys):
    import pandas as pd

    from m2vae_pyro.runs import load_run

    model = load_run(synth_run)
    warm = int(model.split.train_items[0])
    raw = str(model.ds.item_ids[warm])
    out = tmp_path / "w.csv"
    assert main(["predict", str(synth_run), "--items", raw, "--k", "1000", "--out", str(out)]) == 0
    known = {str(model.ds.user_ids[u]) for u in model.split.train_users[model.split.train_items == warm]}
    users = set(pd.read_csv(out, dtype={"user": str})["user"])
    assert known and not users & known
    assert main(["predict", str(synth_run), "--items", f"{raw},nope", "--out", str(tmp_path / "x.csv")]) == 2
    assert "unknown item id(s): 'nope'" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_package_exports_the_facade_lazily():
    import subprocess
    import sys

    code = ("import sys, m2vae_pyro; assert 'm2vae_pyro.m2vae' not in sys.modules; "
            "from m2vae_pyro import M2VAE, Config, load_config, load_dataset; "
            "assert 'm2vae_pyro.m2vae' in sys.modules and Config().d == 128")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_readme_python_snippet_runs_as_written(data_dir, ml100k_images, tmp_path, monkeypatch):
    """The README's "From Python" block, with only the data folder and the epoch count changed."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    start = readme.index("From Python")
    block = readme[readme.index("```python\n", start) + len("```python\n"):]
    block = block[: block.index("```\n")]
    assert "epochs=10" in block and '"../shared/data"' in block
    code = block.replace('"../shared/data"', repr(str(data_dir))).replace("epochs=10", "epochs=1")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 (the README's own code)
    assert scope["scores"].shape == (5, len(scope["cold"]))
    assert scope["e_new"].shape == (5, len(scope["cold"]), scope["model"].config.d)
    assert scope["draws"].samples["e_new"].shape[:2] == (100, 3)
    assert (tmp_path / "m2vae.pt").is_file()


def test_experiment_cells_keep_checkpoints_that_predict_reads(synth_dir, tmp_path):
    import pandas as pd

    exp = tmp_path / "exp"
    assert main(["experiment", "synth-cli", "--data-dir", str(synth_dir), "--out", str(exp), "--models",
                 "m2vae,userpop", "--seeds", "1", "--epochs", "1"]) == 0
    cell = exp / "cells" / "m2vae" / "seed0.pt"
    assert cell.is_file() and not (exp / "cells" / "userpop" / "seed0.pt").exists()
    assert (exp / "log.txt").is_file() and (exp / "provenance.jsonl").read_text().count("\n") == 1
    out = tmp_path / "p.csv"
    assert main(["predict", str(cell), "--role", "validation", "--k", "3", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) > 0
    bare = tmp_path / "bare"
    assert main(["experiment", "synth-cli", "--data-dir", str(synth_dir), "--out", str(bare), "--models",
                 "m2vae", "--seeds", "1", "--epochs", "1", "--no-checkpoints"]) == 0
    assert not (bare / "cells" / "m2vae" / "seed0.pt").exists()
    assert main(["predict", str(bare / "cells" / "m2vae" / "seed0.pt"), "--out", str(tmp_path / "q.csv")]) == 2


def test_facade_takes_raw_ids_and_names_unknown_ones(synth_run):
    import numpy as np

    from m2vae_pyro.runs import load_run

    model = load_run(synth_run)
    users, items = model.ds.user_ids[:3], model.ds.item_ids[model.split.items("test")][:2]
    idx_u, idx_i = model.ds.user_index(users), model.ds.item_index(items)
    assert np.array_equal(model.score(users, items).numpy(), model.score_indices(idx_u, idx_i).numpy())
    assert model.embed_cold_items(users, items).shape == (3, 2, model.config.d)
    draws = model.sample_posterior(items, user_ids=users[0], num_samples=2)
    assert list(draws.items) == list(idx_i) and (draws.users == idx_u[0]).all()
    with pytest.raises(DataError, match=r"unknown user id\(s\): 999999"):
        model.score([999999], items)
    with pytest.raises(DataError, match=r"unknown item id\(s\): 'x'"):
        model.embed_cold_items(users, ["x"])


def test_predict_samples_adds_posterior_mean_sd_and_top_k_probability(synth_run, tmp_path):
    import numpy as np
    import pandas as pd

    from m2vae_pyro.evaluation.posterior import draw_pair_scores
    from m2vae_pyro.evaluation.protocols import candidate_users
    from m2vae_pyro.runs import load_run

    out = tmp_path / "p.csv"
    assert main(["predict", str(synth_run), "--role", "test", "--k", "3", "--samples", "40", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"item": str, "user": str})
    assert list(frame.columns) == ["item", "rank", "user", "score", "score_mean", "score_sd", "p_top"]
    assert (frame["score_sd"] > 0).all() and frame["p_top"].between(0, 1).all()
    # over the draws, each rank among the candidates is held by exactly k users: P(top-k) sums to k per item
    model = load_run(synth_run)
    users = candidate_users(model.split)
    item = model.split.items("test")[:1]
    s = draw_pair_scores(model.model, model.guide, item, users, True, 200, max_draws=1400)[:, 0]
    rank = (s[:, None, :] > s[:, :, None]).sum(-1)
    assert np.allclose((rank < 3).mean(0).sum(), 3.0)
    # version 3's e_new is linear in z, so the score at the mean of z is the posterior mean: within Monte Carlo error
    assert model.config.decoder_z == "residual"
    assert (np.abs(frame["score_mean"] - frame["score"]) <= 5 * frame["score_sd"] / np.sqrt(40) + 1e-6).all()
    assert main(["predict", str(synth_run), "--role", "test", "--samples", "1", "--out", str(tmp_path / "q.csv")]) == 2


def test_train_takes_seed_epochs_and_prior_through_set_too(synth_dir, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(run), "--set", "epochs=1",
                 "--set", "seed=1", "--set", "prior=standard"]) == 0
    import json

    cfg = json.loads((run / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    assert (cfg["epochs"], cfg["seed"], cfg["prior"]) == (1, 1, "standard")
    assert main(["train", "synth-cli", "--data-dir", str(synth_dir), "--out", str(tmp_path / "s"), "--epochs", "2",
                 "--set", "epochs=1"]) == 2
    assert "--epochs 2 and --set epochs=1 disagree" in capsys.readouterr().err


def test_list_version_and_config_toml_round_trip(tmp_path, capsys, data_dir):
    from m2vae_pyro import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"m2vae {__version__}"
    assert main(["list", "--data-dir", str(data_dir)]) == 0
    listing = capsys.readouterr().out
    for name in ("m2vae", "ccfcrec", "gorec", "content_activity", "ml-100k", "paper-literal", "residual", "w/o-dcl"):
        assert name in listing
    args = ["ml-100k", "--preset", "v2", "--set", "threshold=none", "--set", "lr=3e-4", "--variant", "w/o-co-cl"]
    assert main(["config", "show", *args, "--toml"]) == 0
    toml = tmp_path / "c.toml"
    toml.write_text(capsys.readouterr().out)
    assert main(["config", "show", *args]) == 0
    direct = capsys.readouterr().out
    assert main(["config", "show", "ml-100k", "--config", str(toml)]) == 0
    back = capsys.readouterr().out

    def values(text):
        return [line.split()[:2] for line in text.splitlines()]

    assert values(back) == values(direct)  # the same value for every field, preset and variant included
    assert ["threshold", "none"] in values(back) and ["beta_co", "0.0"] in values(back)


def test_none_on_the_command_line_is_applied_not_dropped(data_dir):
    from m2vae_pyro.config import load_config, resolve_config
    from m2vae_pyro.data import cold_start_split, load_dataset

    cfg, sources = resolve_config("ml-100k", None, None, threshold=None)
    assert cfg.threshold is None and sources["threshold"] == "command line"
    ds = load_dataset("ml-100k", data_dir)  # rated: threshold none makes every interaction a positive
    assert len(cold_start_split(ds, 0, cfg.cold_fraction, cfg.threshold).pos_items) == ds.n_interactions
    assert len(cold_start_split(ds, 0, cfg.cold_fraction, 4.0).pos_items) == int((ds.ratings >= 4).sum())
    assert load_config("ml-100k", None, None, preset="paper-literal", sigma_obs=None).sigma_obs is None
    assert load_config("ml-100k", None, None, epochs=None).epochs == 40  # None of a non-nullable field: not given


def test_results_md_opens_with_the_tables_the_cells_give():
    """RESULTS.md's generated block is what benchmarks/make_results.py computes from the committed cells."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "make_results.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unwritable_targets_get_one_line_not_a_traceback(synth_run, synth_dir, tmp_path, capsys):
    import subprocess
    import sys

    nowhere = "/proc/m2vae-cannot-write"  # not writable, whoever runs the tests (root included)
    for argv in (["predict", str(synth_run), "--role", "test", "--out", f"{nowhere}/p.csv"],
                 ["export", str(synth_run), "--role", "test", "--out", f"{nowhere}/e.npz"],
                 ["predict", str(synth_run), "--role", "test", "--out", str(tmp_path), "--force"],
                 ["train", "synth-cli", "--data-dir", str(synth_dir), "--out", f"{nowhere}/run", "--epochs", "1"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and ".tmp" not in err, err
    done = subprocess.run(f"{sys.executable} -m m2vae_pyro config show ml-100k | head -1", shell=True,
                          capture_output=True, text=True)
    assert done.stdout.startswith("epochs ") and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_replacing_the_preset_applies_its_values_not_only_its_label():
    from m2vae_pyro.config import PRESET_NAMES, Config, load_config

    literal = Config().replace(preset="paper-literal")
    assert all(getattr(literal, k) == v for k, v in PRESET_NAMES["paper-literal"].items())
    v3 = Config().replace(preset="default")
    assert v3 == load_config(None, None, None) and v3.prior == "residual"
    back = v3.replace(preset="v2")
    assert back == Config() and back.decoder_z == "mlp"  # version 3's fields go back to version 2's values
    assert Config().replace(preset="paper-literal", prior="vamp").prior == "vamp"  # a field given with it wins


def test_every_option_of_every_command_has_help():
    import argparse

    from m2vae_pyro.cli import build_parser

    missing = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
            elif action.help is None:
                missing.append(" ".join([*prefix, *(action.option_strings or [action.dest])]))

    walk(build_parser(), ["m2vae"])
    assert not missing


def test_a_stored_config_from_before_version_3_loads_as_it_was():
    """A run's record is taken field by field: its preset label never fills the fields it lacks."""
    from m2vae_pyro.config import Config, config_from_dict

    old = {k: v for k, v in Config().to_dict().items() if k not in ("decoder_z", "dropped_id", "id_target",
                                                                        "obs_noise")} | {"preset": "default"}
    cfg = config_from_dict(old)
    assert (cfg.decoder_z, cfg.dropped_id, cfg.id_target, cfg.obs_noise) == ("mlp", "fused", "shared", "fixed")
    assert config_from_dict(Config().replace(preset="default").to_dict()) == Config().replace(preset="default")
