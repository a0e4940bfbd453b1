"""``user_updates = lazy``: a row-sparse gradient for the user table, updated by SparseAdam (issue 34)."""

import pytest
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.data import DataError, cold_start_split
from m2vae_pyro.m2vae import M2VAE
from m2vae_pyro.train.errors import TrainingError

from synthetic import tiny_dataset

TINY = dict(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=3, seed=0, patience=10)


def _model(**changes):
    ds = tiny_dataset()
    return M2VAE(ds, Config().replace(**(TINY | changes)), cold_start_split(ds, 0, threshold=None))


def test_a_lazy_step_updates_only_the_rows_of_the_batchs_users_and_every_other_weight():
    model = _model(user_updates="lazy")
    trainer = model.trainer(progress=False)
    nets = model.nets
    assert [type(o).__name__ for o in trainer.optims] == ["Adam", "SparseAdam"]
    batch = next(iter(trainer.plan.epoch_batches(0, 0)))
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    trainer._step(batch)
    assert nets.user_emb.weight.grad.is_sparse and not nets.item_emb.weight.grad.is_sparse
    users = torch.zeros(nets.n_users, dtype=torch.bool)
    users[torch.cat([batch.pos_users, batch.neg_users])] = True
    moved = (nets.user_emb.weight.detach() != before["user_emb.weight"]).any(-1)
    assert moved[users].all() and not moved[~users].any()
    for name in ("item_emb.weight", "attr_pool.query"):  # the dense rest: Adam
        assert not torch.equal(nets.state_dict()[name], before[name]), name


def test_the_dense_default_moves_every_user_row():
    """What lazy updates change: under Adam a row's moments keep moving it after its last batch."""
    model = _model()
    trainer = model.trainer(progress=False)
    batches = iter(trainer.plan.epoch_batches(0, 0))
    trainer._step(next(batches))
    before = model.nets.user_emb.weight.detach().clone()
    batch = next(batches)
    trainer._step(batch)
    seen = torch.zeros(model.nets.n_users, dtype=torch.bool)
    seen[torch.cat([batch.pos_users, batch.neg_users])] = True
    moved = (model.nets.user_emb.weight.detach() != before).any(-1)
    assert moved[~seen].any()


def test_lazy_updates_train_a_model_whose_loss_falls():
    model = _model(user_updates="lazy", epochs=8)
    model.fit(progress=False)
    losses = [r["loss"] for r in model.history.rows]
    assert losses[-1] < losses[0]


def test_lazy_updates_refuse_weight_decay_and_unknown_values():
    with pytest.raises(DataError, match="user_updates = lazy takes no weight_decay"):
        Config().replace(user_updates="lazy", weight_decay=1e-4)
    with pytest.raises(DataError, match="user_updates"):
        Config().replace(user_updates="sparse")


def test_a_state_saved_with_dense_updates_is_refused_by_a_lazy_run():
    state = _model().trainer(progress=False).state_dict()
    with pytest.raises(TrainingError, match=r"other settings \(user_updates\)"):
        _model(user_updates="lazy").trainer(progress=False).load_state_dict(state)
