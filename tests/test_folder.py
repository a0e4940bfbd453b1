"""The generic dataset folder (data/folder.py): what a user writes with pandas loads, and mistakes name the line."""

import numpy as np
import pandas as pd
import pytest

from m2vae_pyro.cli import main
from m2vae_pyro.data import DataError, load_dataset


def write_folder(root, interactions: str, items: str):
    root.mkdir(parents=True, exist_ok=True)
    (root / "interactions.csv").write_text(interactions)
    (root / "items.csv").write_text(items)
    return root


ITEMS = "item,attributes,brand\nb7,red|cotton,acme\na1,blue,\nc2,,zeta\nnew9,red,acme\n"
INTER = "user,item,rating\nu1,a1,5\nu2,b7,4\nu1,c2,2\nu3,b7,5\n"


def test_folder_loads_with_text_ids_extra_columns_and_new_items(tmp_path):
    ds = load_dataset(str(write_folder(tmp_path / "shop", INTER, ITEMS)))
    assert list(ds.item_ids) == ["a1", "b7", "c2", "new9"] and list(ds.user_ids) == ["u1", "u2", "u3"]
    assert ds.n_interactions == 4 and ds.positive_mask(4.0).sum() == 3
    b7 = list(ds.item_ids).index("b7")
    assert {ds.attribute_names[a] for a in ds.item_attributes(b7)} == {"red", "cotton", "brand=acme"}
    assert ds.item_attributes(list(ds.item_ids).index("c2")).tolist() == [ds.attribute_names.index("brand=zeta")]
    assert 3 not in ds.items  # new9 has no interaction and is still an item (to be scored)
    assert "image" not in ds.modalities and ds.name == "shop"


def test_folder_with_precomputed_image_features(tmp_path):
    root = write_folder(tmp_path / "shop", INTER, ITEMS)
    np.save(root / "image_features.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (root / "image_items.csv").write_text("item\nc2\na1\n")
    ds = load_dataset(str(root))
    img = ds.modalities["image"]
    assert img.present.tolist() == [True, False, True, False]
    assert img.features[0].tolist() == [3, 4, 5] and img.features[2].tolist() == [0, 1, 2]
    (root / "image_items.csv").write_text("item\nc2\nzz\n")
    with pytest.raises(DataError, match=r"image_items.csv line 3: item 'zz' is not in items.csv"):
        load_dataset(str(root))


@pytest.mark.parametrize("inter, items, message", [
    (INTER.replace("u3,b7,5", "u3,q5,5"), ITEMS, r"interactions.csv line 5: item 'q5' is not in items.csv"),
    (INTER.replace("u2,b7,4", "u2,b7,four"), ITEMS, r"interactions.csv line 3: field 'rating' is not a number"),
    (INTER + "u1,a1,3\n", ITEMS, r"interactions.csv line 6: duplicate interaction \(user u1, item a1\)"),
    (INTER.replace("user,item", "usr,item"), ITEMS, r"interactions.csv: line 1: missing column\(s\) user"),
    (INTER, ITEMS.replace("c2,,zeta", "a1,,zeta"), r"items.csv line 4: duplicate item a1"),
    (INTER, ITEMS.replace("attributes", "tags"), r"items.csv: line 1: missing column\(s\) attributes"),
    (INTER.replace("u1,c2,2", "u1,c2,2,9"), ITEMS, r"interactions.csv line 4: malformed line"),
])
def test_folder_mistakes_name_file_and_line(tmp_path, capsys, inter, items, message):
    root = write_folder(tmp_path / "shop", inter, items)
    with pytest.raises(DataError, match=message):
        load_dataset(str(root))
    assert main(["data", "check", str(root)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_data_check_prints_summary(tmp_path, capsys):
    root = write_folder(tmp_path / "shop", INTER, ITEMS)
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "users: 3" in out and "items: 4" in out and "new items to score): 1" in out
    assert main(["data", "check", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_ml100k_written_with_pandas_trains_evaluates_and_predicts(data_dir, tmp_path):
    """The README's "your own data" example: ML-100K as interactions.csv + items.csv."""
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
              "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
              "War", "Western"]
    ratings = pd.read_csv(data_dir / "ml-100k/u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    movies = pd.read_csv(data_dir / "ml-100k/u.item", sep="|", encoding="latin-1", header=None)
    folder = tmp_path / "my-movies"
    folder.mkdir()
    ratings.to_csv(folder / "interactions.csv", index=False)
    flags = movies.iloc[:, 5:].to_numpy()
    pd.DataFrame({"item": movies[0], "attributes": ["|".join(g for g, f in zip(genres, row) if f) for row in flags]}
                 ).to_csv(folder / "items.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", str(folder), "--out", str(run), "--epochs", "1"]) == 0
    assert main(["evaluate", str(run)]) == 0
    builtin = load_dataset("ml-100k", data_dir)
    mine = load_dataset(str(folder))
    assert (mine.item_ids == builtin.item_ids).all() and mine.n_interactions == builtin.n_interactions
    order = [mine.attribute_names.index(g) for g in builtin.attribute_names]  # the folder's tokens sort by name
    assert (mine.attribute_matrix()[:, order] == builtin.attribute_matrix()).all()
    out = tmp_path / "P.csv"
    assert main(["predict", str(run), "--role", "test", "--k", "10", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert frame["item"].isin(builtin.item_ids).all() and frame["user"].isin(builtin.user_ids).all()
    assert frame["item"].min() >= 1  # raw ML-100K ids (1-based), not indices


@pytest.mark.slow
def test_folder_images_become_efficientnet_features(tmp_path, data_dir):
    """``images/ITEM.jpg`` (here two real posters under the folder's item ids) are turned into cached features."""
    import shutil

    root = write_folder(tmp_path / "shop", INTER, ITEMS)
    (root / "images").mkdir()
    shutil.copy(data_dir / "ml-1m-posters/images/1.jpg", root / "images/a1.jpg")
    shutil.copy(data_dir / "ml-1m-posters/images/10.jpg", root / "images/new9.jpg")
    (root / "images/notes.txt").write_text("not an image")
    ds = load_dataset(str(root), images=True, progress=False)
    img = ds.modalities["image"]
    assert img.present.tolist() == [True, False, False, True] and img.features.shape == (4, 1280)
    assert np.abs(img.features[0]).sum() > 0 and (img.features[1] == 0).all()
    assert not np.allclose(img.features[0], img.features[3])


def test_dataset_toml_declares_family_and_duplicates(tmp_path, capsys):
    from m2vae_pyro.config import load_config
    from m2vae_pyro.data.loaders import dataset_family

    root = write_folder(tmp_path / "shop", INTER + "u1,a1,3\n", ITEMS)
    with pytest.raises(DataError, match=r'line 6: duplicate interaction .*duplicates = "first"'):
        load_dataset(str(root))
    (root / "dataset.toml").write_text('duplicates = "last"\n')
    ds = load_dataset(str(root))
    assert ds.n_interactions == 4 and ds.ratings[list(ds.items).index(0)] == 3.0  # u1's last a1 row (3) is kept
    assert ds.family == "movielens" and dataset_family(str(root)) == "movielens"  # rated: inferred
    (root / "dataset.toml").write_text('duplicates = "first"\nfamily = "amazon"\n')
    ds = load_dataset(str(root))
    assert ds.ratings[list(ds.items).index(0)] == 5.0 and ds.family == "amazon"
    assert load_config(str(root)).c_p == 5  # the Amazon presets, decided by the folder's declaration
    implicit = write_folder(tmp_path / "clicks", "user,item\nu1,a1\nu2,b7\n", ITEMS)
    assert dataset_family(str(implicit)) == "amazon" and load_dataset(str(implicit)).family == "amazon"
    (root / "dataset.toml").write_text('family = "books"\n')
    with pytest.raises(DataError, match="family = 'books'"):
        load_dataset(str(root))
    assert main(["config", "show", "no-such-dataset"]) == 2
    assert "unknown dataset 'no-such-dataset'" in capsys.readouterr().err


@pytest.mark.parametrize("inter, message", [
    ("user;item;rating\nu1;a1;5\n", r"one column 'user;item;rating': the file must be comma-separated .*semicolons"),
    ("user,item,rating\nu1,a1,5\nu2,b\xe97,4\n", r"interactions.csv line 3: not valid utf-8"),
    ("user,item,rating\n", r"no interactions"),
    ("user,item,rating\nu1,a1,1\nu2,b7,0\n", r"no interaction is a positive at threshold 4.0 \(ratings range 0–1\)"),
])
def test_data_check_reports_what_train_would_fail_on(tmp_path, capsys, inter, message):
    root = tmp_path / "shop"
    root.mkdir()
    (root / "interactions.csv").write_bytes(inter.encode("latin-1"))
    (root / "items.csv").write_text(ITEMS)
    assert main(["data", "check", str(root)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err
