"""Data-parallel SVI on torch.distributed: two CPU processes under torchrun (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from m2vae_pyro.cli import main

SETS = ["--set", "d=16", "--set", "decoder_hidden=32", "--set", "c_p=2", "--set", "c_n=4", "--set", "threshold=null"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "d", "--out", str(root), "--users", "200", "--items", "300", "--per-user", "20"]) == 0
    return root


def test_two_processes_train_in_sync_like_one(synth, tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    dist_run, single_run = tmp_path / "ddp", tmp_path / "single"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "m2vae_pyro",
           "train", "synth-d", "--data-dir", str(synth), "--out", str(dist_run), "--epochs", "4", "--distributed",
           "--set", "batch_size=128", *SETS]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    # every step checks that both ranks hold the same weights (Trainer._check_in_sync raises otherwise)
    info = json.loads((dist_run / "train.json").read_text())
    assert info["world_size"] == 2
    assert (dist_run / "checkpoint.pt").is_file() and not list(dist_run.glob(".*tmp*"))
    # one process with the same global batch (2 × 128) gives the same losses within noise
    assert main(["train", "synth-d", "--data-dir", str(synth), "--out", str(single_run), "--epochs", "4",
                 "--set", "batch_size=256", *SETS]) == 0
    a, b = pd.read_csv(dist_run / "history.csv"), pd.read_csv(single_run / "history.csv")
    assert len(a) == len(b) == 4
    for term in ("loss", "bpr"):
        assert abs(a[term].iloc[-1] - b[term].iloc[-1]) <= 0.1 * abs(b[term].iloc[-1]), term


def test_distributed_without_torchrun_is_a_clear_error(synth, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert main(["train", "synth-d", "--data-dir", str(synth), "--out", str(tmp_path / "r"), "--distributed"]) == 2
    assert "torchrun" in capsys.readouterr().err
