"""The TabPFN path, offline: a tiny TabPFN v2 checkpoint built here (random weights, TabPFN's own format) is
loaded from model_path through TabularPipeline and saved/loaded; without a checkpoint the pipeline says where
the file must go at construction instead of starting a gated download inside fit."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from tightfit.errors import ConfigError
from tightfit.tabular import TabularPipeline

pytest.importorskip("tabpfn")
from tabpfn.architectures import tabpfn_v2

CONFIG = {"emsize": 32, "nlayers": 2, "nhead": 2, "max_num_classes": 10, "features_per_group": 2}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = tabpfn_v2.get_architecture(tabpfn_v2.parse_config(CONFIG)[0])
    path = tmp_path_factory.mktemp("tabpfn") / "tiny-tabpfn-v2-classifier.ckpt"
    torch.save({"config": CONFIG, "state_dict": model.state_dict()}, path)
    return path


def test_a_local_tabpfn_checkpoint_fits_predicts_and_round_trips(checkpoint, tmp_path):
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:120], order[120:]
    pipe = TabularPipeline(
        model_name="tab-pfn", model_path=checkpoint, model_params={"n_estimators": 2, "device": "cpu"}
    ).fit(X[train], y[train])
    proba = pipe.predict_proba(X[test])
    assert proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(pipe.predict(X[test])) <= {0, 1, 2}
    path = pipe.save(tmp_path / "tabpfn")
    np.testing.assert_array_equal(TabularPipeline.load(path, trust=True).predict_proba(X[test]), proba)


def test_tabpfn_without_a_checkpoint_says_where_to_put_one(tmp_path, monkeypatch):
    from tabpfn.settings import settings

    monkeypatch.setattr(settings.tabpfn, "model_cache_dir", tmp_path)  # an empty cache
    with pytest.raises(ConfigError, match=r"no TabPFN checkpoint at .* put a TabPFN checkpoint .* at model_path"):
        TabularPipeline(model_name="TabPFN")
    with pytest.raises(ConfigError, match="does not exist; put a TabPFN checkpoint"):
        TabularPipeline(model_name="TabPFN", model_path=tmp_path / "missing.ckpt")
