"""``table_optimizer = lazy-adam``: row-sparse gradients for the ID tables, updated by SparseAdam (issue 34)."""

import pytest
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.data import DataError, cold_start_split
from m2vae_pyro.m2vae import M2VAE
from m2vae_pyro.nn.similarity import cosine_to_rows

from synthetic import tiny_dataset

TINY = dict(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=3, seed=0, patience=10)


def _model(**changes):
    ds = tiny_dataset()
    return M2VAE(ds, Config().replace(**(TINY | changes)), cold_start_split(ds, 0, threshold=None))


def test_cosines_to_rows_of_a_sparse_table_equal_the_dense_ones_and_so_do_their_gradients():
    torch.manual_seed(0)
    x, index = torch.randn(6, 4), torch.randint(0, 9, (6, 5))
    grads = []
    for sparse in (False, True):
        table = torch.randn(20, 4, generator=torch.Generator().manual_seed(1)).requires_grad_()
        out = cosine_to_rows(x, table, index, sparse=sparse)
        (out * torch.arange(30.0).reshape(6, 5)).sum().backward()
        assert table.grad.is_sparse == sparse
        grads.append((out.detach(), table.grad.to_dense()))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_a_lazy_step_updates_only_the_rows_a_batch_touches_and_every_other_parameter():
    model = _model(table_optimizer="lazy-adam")
    trainer = model.trainer(progress=False)
    nets = model.nets
    assert [type(o).__name__ for o in trainer.optims] == ["Adam", "SparseAdam"]
    batch = next(iter(trainer.plan.epoch_batches(0, 0)))
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    trainer._step(batch)
    assert nets.user_emb.weight.grad.is_sparse and nets.item_emb.weight.grad.is_sparse
    users = torch.unique(torch.cat([batch.pos_users, batch.neg_users]))
    untouched = torch.ones(nets.n_users, dtype=torch.bool)
    untouched[users] = False
    moved = (nets.user_emb.weight.detach() != before["user_emb.weight"]).any(-1)
    assert moved[users].all() and not moved[untouched].any()
    items = torch.cat([batch.items.reshape(-1), batch.pos_items.reshape(-1), batch.neg_items.reshape(-1)])
    moved_items = (nets.item_emb.weight.detach() != before["item_emb.weight"]).any(-1)
    assert moved_items.any() and not moved_items[~torch.isin(torch.arange(nets.n_items), items)].any()
    assert not torch.equal(nets.attr_pool.query.detach(), before["attr_pool.query"])  # the dense rest: Adam


def test_lazy_adam_trains_a_model_that_ranks_better_than_its_start():
    model = _model(table_optimizer="lazy-adam", epochs=8)
    start = _model(table_optimizer="lazy-adam").evaluate("validation", ks=(5,))["hr@5"]
    model.fit(progress=False)
    losses = [r["loss"] for r in model.history.rows]
    assert losses[-1] < losses[0]
    assert model.evaluate("validation", ks=(5,))["hr@5"] >= start


def test_lazy_adam_refuses_weight_decay_and_unknown_optimisers():
    with pytest.raises(DataError, match="lazy-adam takes no weight_decay"):
        Config().replace(table_optimizer="lazy-adam", weight_decay=1e-4)
    with pytest.raises(DataError, match="table_optimizer"):
        Config().replace(table_optimizer="sgd")


def test_a_state_saved_with_one_table_optimizer_is_refused_by_the_other():
    from m2vae_pyro.train.errors import TrainingError

    state = _model().trainer(progress=False).state_dict()
    with pytest.raises(TrainingError, match="another table_optimizer"):
        _model(table_optimizer="lazy-adam").trainer(progress=False).load_state_dict(state)
