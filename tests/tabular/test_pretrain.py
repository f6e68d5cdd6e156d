"""Pretraining: the prior's batches are reproducible and fresh per epoch; a tiny run goes through the engine
and writes a model that loads, its card, run.json, history.csv and a checkpoint; the same seed gives the
same weights."""

import csv
import dataclasses
import json

import pytest
import torch

from tightfit import ConfigError
from tightfit.tabular.models.tiny import TinyTFMConfig, load_tiny_tfm
from tightfit.tabular.pretrain import pretrain
from tightfit.tabular.prior import PriorBatches, PriorSettings

SMALL = PriorSettings(tables=4, min_rows=30, max_rows=40, min_features=2, max_features=4, max_classes=3)
TINY = TinyTFMConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_classes=3)


def test_tabicl_prior_batches_depend_only_on_seed_epoch_and_index():
    scm = dataclasses.replace(SMALL, prior_type="mlp_scm")
    first, again = PriorBatches(scm, 2, seed=0)[1], PriorBatches(scm, 2, seed=0)[1]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    later = PriorBatches(scm, 2, seed=0)
    later.set_epoch(1)
    x_later = later[1][0]
    assert x_later.shape != first[0].shape or not torch.equal(x_later, first[0])
    x, y_context, target = first
    assert x.shape[0] == 4 and x.shape[1] == y_context.shape[1] + target.shape[1] and x.shape[2] <= 4
    present = torch.nn.functional.one_hot(y_context, 3).amax(dim=1).bool()
    kept = target != -100
    assert present.gather(1, target.clamp_min(0))[kept].all()  # every kept query label occurs in its context


def test_pretrain_writes_a_loadable_model_card_history_and_checkpoint_reproducibly(tmp_path):
    card = pretrain(tmp_path / "a", minutes=None, steps=3, architecture=TINY, settings=SMALL, verbose=False)
    assert card["steps"] == 3 and card["tables_seen"] == 12 and card["stopped_by"] == "max_steps"
    assert card["prior"]["max_features"] == 4 and card["parameters"] > 0
    model = load_tiny_tfm(tmp_path / "a" / "tiny_tfm.pt")
    assert model.config == TINY
    assert json.loads((tmp_path / "a" / "tiny_tfm.json").read_text())["steps"] == 3
    rows = list(csv.DictReader((tmp_path / "a" / "history.csv").open()))
    assert rows and float(rows[-1]["val_loss"]) > 0
    assert [point["val_loss"] for point in card["loss_curve"]] == [float(row["val_loss"]) for row in rows]
    assert card["tables_per_second"] > 0
    assert (tmp_path / "a" / "run.json").exists() and (tmp_path / "a" / "checkpoints" / "checkpoint.pt").exists()
    pretrain(tmp_path / "b", minutes=None, steps=3, architecture=TINY, settings=SMALL, verbose=False)
    other = load_tiny_tfm(tmp_path / "b" / "tiny_tfm.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True))

    # a warm start continues those weights with a fresh schedule, and its card adds up the earlier run
    warm = pretrain(tmp_path / "c", minutes=None, steps=2, settings=SMALL, verbose=False, lr=1e-5,
                    init=tmp_path / "a" / "tiny_tfm.pt")  # fmt: skip
    assert (warm["steps"], warm["total_steps"], warm["init"]["total_steps"]) == (2, 5, 3)
    assert warm["total_pretrain_minutes"] > warm["pretrain_minutes"]
    continued = load_tiny_tfm(tmp_path / "c" / "tiny_tfm.pt")
    assert continued.config == TINY
    drift = max((x - y).abs().max().item() for x, y in zip(model.state_dict().values(),
                                                           continued.state_dict().values(), strict=True))  # fmt: skip
    assert 0 < drift < 1e-3  # two small steps away from where it started, not a fresh model
    with pytest.raises(ConfigError, match="architecture"):
        pretrain(tmp_path / "d", minutes=None, steps=1, architecture=TINY, init=tmp_path / "a" / "tiny_tfm.pt")

    # a warm start may regroup the cells (2 per token); the rest of the network is the earlier run's
    pretrain(tmp_path / "e", minutes=None, steps=1, settings=SMALL, verbose=False, lr=1e-9,
             init=tmp_path / "a" / "tiny_tfm.pt", regroup_to=2)  # fmt: skip
    regrouped = load_tiny_tfm(tmp_path / "e" / "tiny_tfm.pt")
    assert regrouped.config == dataclasses.replace(TINY, features_per_token=2) and regrouped.cell.weight.shape[1] == 4
    torch.testing.assert_close(regrouped.blocks[0].ff[2].weight, model.blocks[0].ff[2].weight, rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="regroup_to"):
        pretrain(tmp_path / "f", minutes=None, steps=1, regroup_to=2)


@pytest.mark.parametrize(("kwargs", "name"), [({"minutes": 0}, "minutes"), ({"minutes": None, "steps": 0}, "steps")])
def test_bad_run_length_is_rejected_before_any_work(tmp_path, kwargs, name):
    with pytest.raises(ConfigError, match=name):
        pretrain(tmp_path, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"min_rows": 10}, "min_rows"),
        ({"max_classes": 11}, "max_classes"),
        ({"prior_type": "x"}, "prior_type"),
        ({"zero_inflated": 1.5}, "zero_inflated"),
    ],
)
def test_bad_prior_settings_are_rejected_where_typed(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        PriorSettings(**kwargs)


def test_own_prior_is_reproducible_fresh_per_epoch_and_carries_signal():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from tightfit.tabular.synthetic import SyntheticBatches

    settings = PriorSettings(tables=16, min_rows=150, max_rows=200, min_features=3, max_features=6)
    batches = SyntheticBatches(settings, 3, seed=0)
    x, y_context, target = batches[0]
    assert all(torch.equal(a, b) for a, b in zip(batches[0], SyntheticBatches(settings, 3, seed=0)[0], strict=True))
    batches.set_epoch(1)
    assert not torch.equal(batches[0][0][..., :1].flatten()[:10], x[..., :1].flatten()[:10])
    gains = []
    for table in range(16):  # a linear model fitted on the context beats predicting its majority class
        keep = target[table] != -100
        X_ctx = StandardScaler().fit(x[table, : y_context.shape[1]].numpy())
        model = LogisticRegression(max_iter=500).fit(X_ctx.transform(x[table, : y_context.shape[1]]), y_context[table])
        predicted = model.predict(X_ctx.transform(x[table, y_context.shape[1] :]))[keep.numpy()]
        majority = torch.bincount(y_context[table]).argmax()
        gains.append(
            (predicted == target[table][keep].numpy()).mean() - (target[table][keep] == majority).float().mean()
        )
    assert sum(gains) / len(gains) > 0.1


def test_zero_inflated_columns_hold_one_value_on_many_rows_and_only_when_asked():
    from tightfit.tabular.synthetic import SyntheticBatches

    def point_mass_share(settings):  # share of columns whose most common value is on >= 10% of rows
        x = SyntheticBatches(settings, 1, seed=0)[0][0]
        flat = x.transpose(1, 2).reshape(-1, x.shape[1])
        top = [torch.unique(column, return_counts=True)[1].max() / len(column) for column in flat]
        return float(sum(share >= 0.1 for share in top)) / len(top)

    base = dict(tables=16, min_rows=150, max_rows=200, min_features=6, max_features=6)
    plain = point_mass_share(PriorSettings(**base))
    inflated = point_mass_share(PriorSettings(**base, zero_inflated=0.5))
    assert plain < 0.3  # only integer-coded columns (a fifth) repeat values
    assert inflated - plain > 0.3  # about half the columns gain a point mass


def test_a_pretraining_time_budget_is_sized_so_that_the_schedule_ends_within_it(tmp_path):
    """With ``minutes`` the steps come from a measured pace: the cosine schedule must end (``max_steps``)
    before the time budget stops the run, and the run must use most of its time."""
    card = pretrain(tmp_path / "t", minutes=0.25, architecture=TINY, settings=SMALL, verbose=False)
    assert card["stopped_by"] == "max_steps"
    assert 0.3 * 0.25 < card["pretrain_minutes"] <= 0.25 * 1.02
