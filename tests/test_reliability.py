"""Reproducible runs and exact resume after an interruption."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from m2vae_pyro.config import Config, load_config
from m2vae_pyro.data import DataError, cold_start_split
from m2vae_pyro.m2vae import M2VAE, load_weights
from m2vae_pyro.runs import RESUME_FILE, evaluate_run, resume_run, train_run
from m2vae_pyro.train.errors import Interrupted

from synthetic import tiny_dataset

TINY = dict(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=3, seed=0, patience=10)


def _tiny_model(**changes):
    ds = tiny_dataset()
    return M2VAE(ds, Config().replace(**(TINY | changes)), cold_start_split(ds, 0, threshold=None))


@pytest.mark.parametrize("changes", [{}, {"weight_ema": 0.9}, {"user_updates": "lazy"}],
                         ids=["raw", "weight-ema", "lazy-users"])
def test_trainer_state_round_trip_resumes_exactly(changes):
    straight = _tiny_model(**changes)
    straight.fit(progress=False)

    first = _tiny_model(**changes)
    trainer = first.trainer(progress=False)
    with pytest.raises(Interrupted):
        trainer.run(should_stop=lambda: trainer.step >= 13)  # mid-epoch (about 10 batches an epoch)
    state = trainer.state_dict()
    torch.manual_seed(12345)  # whatever happens to the global RNG in between is undone by the state

    second = _tiny_model(**changes)
    resumed = second.trainer(progress=False)
    resumed.load_state_dict(state)
    history = resumed.run()
    assert history.rows[-1]["step"] == straight.history.rows[-1]["step"]
    assert [r["val_hr@5"] for r in history.rows] == [r["val_hr@5"] for r in straight.history.rows]
    for (name, a), b in zip(straight.nets.state_dict().items(), second.nets.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.fixture(scope="module")
def straight_run(ml100k_images, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("repro") / "straight"
    train_run("ml-100k", data_dir, out, load_config("ml-100k", epochs=3, seed=0), progress=False)
    return out, evaluate_run(out)


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(straight_run, data_dir, tmp_path):
    out, metrics = straight_run
    again = tmp_path / "again"
    train_run("ml-100k", data_dir, again, load_config("ml-100k", epochs=3, seed=0), progress=False)
    assert evaluate_run(again) == metrics
    assert (again / "split.csv").read_text() == (out / "split.csv").read_text()


@pytest.mark.slow
def test_interrupted_then_resumed_equals_uninterrupted(straight_run, data_dir, tmp_path):
    _, metrics = straight_run
    run = tmp_path / "cut"
    with pytest.raises(Interrupted, match="Resume with: m2vae train --resume"):
        train_run("ml-100k", data_dir, run, load_config("ml-100k", epochs=3, seed=0), progress=False,
                  stop_at_step=60)  # inside the second epoch (44 batches an epoch)
    assert (run / RESUME_FILE).is_file() and not (run / "train.json").exists()
    meta_text = (run / "config.json").read_text()
    meta = json.loads(meta_text)
    meta["config"]["d"] = 64
    (run / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"config differs from the interrupted run's in: d \(128 → 64\)"):
        resume_run(run, progress=False)
    (run / "config.json").write_text(meta_text)
    resume_run(run, progress=False)
    assert not (run / RESUME_FILE).exists()
    assert evaluate_run(run) == metrics


@pytest.mark.slow
def test_sigint_saves_state_and_cli_resumes(ml100k_images, data_dir, tmp_path):
    run = tmp_path / "sig"
    cmd = [sys.executable, "-m", "m2vae_pyro", "train", "ml-100k", "--data-dir", str(data_dir), "--out", str(run),
           "--epochs", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # checkpoint.pt appears after epoch 1's validation: the loop (and its signal handler) is surely running,
        # whatever the load on the machine; the signal then lands in epoch 2
        deadline = time.time() + 900
        while not (run / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:  # never leave a training process behind (its warnings would fail later tests)
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"m2vae train --resume {run}" in err
    assert (run / RESUME_FILE).is_file()
    done = subprocess.run([sys.executable, "-m", "m2vae_pyro", "train", "--resume", str(run)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (run / "checkpoint.pt").is_file() and json.loads((run / "train.json").read_text())["best_epoch"] >= 1
    again = subprocess.run([sys.executable, "-m", "m2vae_pyro", "train", "--resume", str(run)], capture_output=True,
                           text=True)
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def test_checkpoint_that_does_not_fit_names_the_parameter(tmp_path):
    ds = tiny_dataset()
    small = M2VAE(ds, Config().replace(**TINY), cold_start_split(ds, 0, threshold=None))
    wide = M2VAE(ds, Config().replace(**(TINY | {"d": 16})), cold_start_split(ds, 0, threshold=None))
    with pytest.raises(DataError, match=r"ckpt.pt: checkpoint does not fit this model: \S+ has shape"):
        load_weights(small.nets, wide.nets.state_dict(), tmp_path / "ckpt.pt")
    other = M2VAE(tiny_dataset(image=False), Config().replace(**TINY))
    with pytest.raises(DataError, match="missing"):
        load_weights(small.nets, other.nets.state_dict(), tmp_path / "ckpt.pt")


def test_weight_ema_is_the_bias_corrected_average_and_is_what_is_validated_and_kept():
    model = _tiny_model(weight_ema=0.5, epochs=1)
    trainer = model.trainer(progress=False)
    seen = []
    params = model.model.named_parameters
    trainer.plan.validate = lambda: seen.append({k: p.detach().clone() for k, p in params()}) or 0.1
    snapshots = []
    real_step = trainer._step

    def step(batch):
        out = real_step(batch)
        snapshots.append({k: p.detach().clone() for k, p in model.model.named_parameters()})
        return out

    trainer._step = step
    history = trainer.run()
    n = len(snapshots)
    assert n >= 2 and history.best_epoch == 1
    weights = [0.5 * 0.5 ** (n - 1 - t) for t in range(n)]  # (1 − d) · d^(n−1−t), then / (1 − d^n)
    for k, validated in seen[0].items():
        expect = sum(w * snap[k] for w, snap in zip(weights, snapshots)) / (1 - 0.5**n)
        assert torch.allclose(validated, expect, atol=1e-6), k
        assert torch.equal(history.best_state[k], validated), k  # the kept state is the averaged one
    raw = snapshots[-1]
    assert any(not torch.allclose(raw[k], seen[0][k]) for k in raw)


SAME_SEED = r"""
import sys, torch
from m2vae_pyro.config import Config
from m2vae_pyro.data import cold_start_split
from m2vae_pyro.m2vae import M2VAE
sys.path.insert(0, sys.argv[1])
from synthetic import tiny_dataset
torch.set_num_threads(int(sys.argv[2]))
ds = tiny_dataset(n_users=300, n_items=200, image_dim=64)
model = M2VAE(ds, Config().replace(preset="default", d=32, batch_size=256, epochs=2, c_p=2, c_n=3),
              cold_start_split(ds, 0, threshold=None))
model.fit(progress=False)
print(repr(model.evaluate("validation", ks=(5, 10))))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_threads_gives_identical_metrics_in_fresh_processes(threads):
    """docs/reliability.md: the same seed, thread count, torch build and CPU give bit-identical runs."""
    import os
    from pathlib import Path

    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    runs = [subprocess.run([sys.executable, "-c", SAME_SEED, str(Path(__file__).parent), str(threads)],
                           capture_output=True, text=True, env=env, timeout=600) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout == runs[1].stdout and "hr@5" in runs[0].stdout
