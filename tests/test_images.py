"""Poster features: the PNG-named-.jpg and the greyscale poster work; the cache is keyed by content."""

import numpy as np
import pytest

from m2vae_pyro.data.images import FEATURE_DIM, cached_features, load_image


def test_odd_images_open(data_dir):
    images = data_dir / "ml-1m-posters" / "images"
    for name in ("3575.jpg", "1789.jpg", "1.jpg"):  # PNG under a .jpg name, greyscale, ordinary RGB
        x = load_image(images / name)
        assert x.shape == (3, 224, 224) and x.dtype == np.float32 and np.isfinite(x).all()
    grey = load_image(images / "1789.jpg")
    assert np.allclose(grey[0], grey[1]) and np.allclose(grey[1], grey[2])


def test_features_cached_by_content(data_dir, tmp_path):
    images = data_dir / "ml-1m-posters" / "images"
    paths = [images / f"{i}.jpg" for i in (1, 260, 3575, 1789)]
    feats, file, computed = cached_features(paths, cache=tmp_path, progress=False)
    assert computed and feats.shape == (4, FEATURE_DIM) and np.isfinite(feats).all()
    assert (feats >= 0).mean() > 0.2 and feats.std() > 0.05  # real activations, not a constant
    again, file2, computed2 = cached_features(paths, cache=tmp_path, progress=False)
    assert not computed2 and file2 == file and np.array_equal(feats, again)
    # a different image set gets a different key
    _, file3, _ = cached_features(paths[:2], cache=tmp_path, progress=False)
    assert file3 != file
    assert np.allclose(np.load(file3), feats[:2], atol=1e-5)


def test_corrupt_cache_is_named(data_dir, tmp_path):
    from m2vae_pyro.data import DataError

    images = data_dir / "ml-1m-posters" / "images"
    paths = [images / "1.jpg"]
    _, file, _ = cached_features(paths, cache=tmp_path, progress=False)
    file.write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt feature cache"):
        cached_features(paths, cache=tmp_path, progress=False)


@pytest.mark.slow
def test_ml100k_features_keep_items_without_poster(ml100k_images, data_dir, capsys):
    from m2vae_pyro.cli import main

    ds, _ = ml100k_images
    img = ds.modalities["image"]
    assert ds.n_items == 1682 and img.features.shape == (1682, FEATURE_DIM)
    absent = ~img.present
    assert absent.sum() == 14 and (img.features[absent] == 0).all()
    assert np.isfinite(img.features).all() and (np.abs(img.features[img.present]).sum(1) > 0).all()
    # a second run (the CLI, same cache) reuses the features instead of recomputing them
    assert main(["data", "images", "ml-100k", "--data-dir", str(data_dir)]) == 0
    assert "cache: reused" in capsys.readouterr().out
