"""Items that arrive after training are scored from their content alone, exactly as if they had been in the data
at training time without an interaction; a run re-attaches to its data folder wherever it moved, checked by a
fingerprint of what it was trained on."""

import shutil

import numpy as np
import pandas as pd
import pytest

from m2vae_pyro.cli import main
from m2vae_pyro.runs import load_run

from synthetic import shop_folder as shop


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("new-items")
    folder, items, feats = shop(base / "shop")
    run = base / "run"
    assert main(["train", str(folder), "--out", str(run), "--epochs", "1", "--set", "d=16",
                 "--set", "batch_size=256"]) == 0
    return base, folder, run, items, feats


def scores_by_id(csv_path):
    frame = pd.read_csv(csv_path, dtype={"item": str, "user": str})
    return {(r.item, r.user): r.score for r in frame.itertuples()}


def test_items_file_scores_equal_those_of_the_same_items_at_training_time(trained, capsys):
    base, folder, run, items, feats = trained
    held = items[items["item"].str.startswith("h")]
    # the same content under ids the run never saw, plus a token it never saw (ignored, with a warning)
    new = held.assign(item=["n1", "n2", "n3"], attributes=held["attributes"] + "|neon")
    new.to_csv(base / "new.csv", index=False)
    np.save(base / "new.npy", feats[-3:-1])
    pd.DataFrame({"item": ["n1", "n2"]}).to_csv(base / "new_img.csv", index=False)
    out_new, out_old = base / "P_new.csv", base / "P_old.csv"
    assert main(["predict", str(run), "--items-file", str(base / "new.csv"), "--image-features",
                 str(base / "new.npy"), "--image-items", str(base / "new_img.csv"), "--k", "40",
                 "--out", str(out_new)]) == 0
    err = capsys.readouterr().err
    assert "3 attribute token(s) the run was not trained on are ignored" in err and "Traceback" not in err
    assert main(["predict", str(run), "--items", "h1,h2,h3", "--k", "40", "--out", str(out_old)]) == 0
    new_scores, old_scores = scores_by_id(out_new), scores_by_id(out_old)
    assert {i for i, _ in new_scores} == {"n1", "n2", "n3"}  # raw ids of items the run never saw
    for (item, user), score in old_scores.items():
        assert new_scores[("n" + item[1:], user)] == pytest.approx(score, abs=1e-5)


def test_python_api_scores_new_items(trained):
    base, folder, run, items, feats = trained
    model = load_run(run)
    users = model.ds.user_ids[:5]
    before = model.score(users, ["h1", "h2"])
    frame = pd.DataFrame({"item": ["x1", "x2"], "attributes": items.set_index("item").loc[["h1", "h2"], "attributes"]})
    after = model.score_new_items(users, frame, image_features=feats[-3:-1])
    assert np.allclose(after.numpy(), before.numpy(), atol=1e-5)
    assert np.allclose(model.score(users, ["h1", "h2"]).numpy(), before.numpy())  # trained items unchanged


def test_grown_and_moved_folder_reattaches(trained, capsys):
    base, folder, run, items, feats = trained
    moved = base / "elsewhere" / "shop-renamed"
    shutil.copytree(folder, moved)
    grown_items = pd.concat([items, pd.DataFrame({"item": ["g1"], "attributes": [items["attributes"].iloc[-2]]})])
    grown_items.to_csv(moved / "items.csv", index=False)
    np.save(moved / "image_features.npy", np.concatenate([feats[:-1], feats[-2:-1]]))
    pd.DataFrame({"item": [*items["item"][:-1], "g1"]}).to_csv(moved / "image_items.csv", index=False)
    shutil.move(folder, base / "gone")  # the recorded folder no longer exists
    try:
        out = base / "P_grown.csv"
        assert main(["predict", str(run), "--items", "g1", "--k", "40", "--out", str(out)]) == 2
        assert "--data-dir" in capsys.readouterr().err
        assert main(["predict", str(run), "--data-dir", str(moved), "--items", "g1,h2", "--k", "40",
                     "--out", str(out)]) == 0
        scores = scores_by_id(out)
        for user in {u for _, u in scores}:  # g1 has h2's content: the same scores
            assert scores[("g1", user)] == pytest.approx(scores[("h2", user)], abs=1e-5)
        # data that differ from the run's are refused with one line
        inter = pd.read_csv(moved / "interactions.csv").iloc[1:]
        inter.to_csv(moved / "interactions.csv", index=False)
        assert main(["evaluate", str(run), "--data-dir", str(moved)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "differ from those the run was trained on" in err[0]
    finally:
        shutil.move(base / "gone", folder)


def test_new_item_without_content_is_refused_or_allowed(trained, capsys):
    base, folder, run, items, feats = trained
    pd.DataFrame({"item": ["e1", "ok1"], "attributes": ["neon", "red"]}).to_csv(base / "empty.csv", index=False)
    out = base / "P_empty.csv"
    assert main(["predict", str(run), "--items-file", str(base / "empty.csv"), "--out", str(out)]) == 2
    assert "item 'e1' has no attribute the run knows and no image" in capsys.readouterr().err
    assert main(["predict", str(run), "--items-file", str(base / "empty.csv"), "--allow-empty",
                 "--out", str(out)]) == 0
    assert set(pd.read_csv(out)["item"]) == {"e1", "ok1"}
