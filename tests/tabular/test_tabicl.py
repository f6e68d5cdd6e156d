"""The TabICL path, offline: a tiny TabICL checkpoint built here (random weights, TabICL's own format) is
loaded from model_path, fine-tuned through the engine, adapted with LoRA that reaches the attention weights
TabICL reads raw, and saved/loaded."""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from tightfit.errors import DataError
from tightfit.tabular import TabularPipeline
from tightfit.train import LoraSpec
from tightfit.train.techniques import apply_lora_, merge_lora_

tabicl = pytest.importorskip("tabicl")
from tabicl._model.tabicl import TabICL  # noqa: E402

CONFIG = {
    "max_classes": 10, "embed_dim": 16, "col_num_blocks": 1, "col_nhead": 2, "col_num_inds": 8,
    "row_num_blocks": 1, "row_nhead": 2, "row_num_cls": 2, "icl_num_blocks": 2, "icl_nhead": 2,
}  # fmt: skip
TUNE = {"support_size": 48, "query_size": 24, "batch_size": 2, "steps_per_epoch": 2, "epochs": 1}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tabicl") / "tiny_tabicl.ckpt"
    torch.save({"config": CONFIG, "state_dict": TabICL(**CONFIG).state_dict()}, path)
    return path


def _table():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 40, 5, generator=generator), torch.randint(0, 3, (2, 30), generator=generator).float()


def test_lora_reaches_the_raw_attention_weights_and_only_adapters_train():
    torch.manual_seed(0)
    model = TabICL(**CONFIG).train()
    base = copy.deepcopy(model)
    applied = apply_lora_(model, LoraSpec(r=4, alpha=8))
    attention = [n for n, m in base.named_modules() if isinstance(m, torch.nn.MultiheadAttention)]
    assert set(attention) <= set(applied.targets)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert applied.trainable_params < 0.5 * applied.total_params
    x, y = _table()
    torch.manual_seed(1)
    before = base(x, y)
    torch.manual_seed(1)
    assert torch.equal(model(x, y), before)  # B starts at zero: unchanged at first
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0, 0.5)
    torch.manual_seed(1)
    adapted = model(x, y)
    assert (adapted - before).abs().max() > 1e-3  # the adapters take part in TabICL's own attention
    adapted.sum().backward()
    in_proj = [p for n, p in model.named_parameters() if "in_proj_weight" in n and "lora_A" in n]
    assert in_proj and all(p.grad is not None and p.grad.abs().sum() > 0 for p in in_proj)
    assert merge_lora_(model) > 0
    assert set(model.state_dict()) == set(base.state_dict())
    torch.manual_seed(1)
    torch.testing.assert_close(model(x, y), adapted, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("strategy", ["base-ft", "peft"])
def test_tabicl_from_a_local_checkpoint_fine_tunes_and_round_trips(tmp_path, checkpoint, strategy):
    X, y = load_wine(return_X_y=True)
    common = {"model_params": {"n_estimators": 2}, "model_path": checkpoint}
    zero_shot = TabularPipeline("TabICL", tuning_params={"device": "cpu"}, **common).fit(X[::2], y[::2])
    tuned = TabularPipeline(
        "tab-icl", tuning_strategy=strategy, tuning_params=TUNE | {"device": "cpu", "show_progress": False}, **common
    ).fit(X[::2], y[::2])
    ft = tuned.finetune_
    assert ft.train.steps == 2
    assert (
        ft.trainable_params / ft.total_params < 0.5
        if strategy == "peft"
        else ft.trainable_params / ft.total_params > 0.99
    )
    if ft.kept == "tuned":
        assert not np.array_equal(tuned.predict_proba(X[1::2]), zero_shot.predict_proba(X[1::2]))
    with pytest.raises(DataError, match=r"pickle-based.*TabICL"):  # no code-free format for its estimator
        TabularPipeline.load(tuned.save(tmp_path / "tabicl"))
    loaded = TabularPipeline.load(tmp_path / "tabicl", trust=True)
    assert np.array_equal(loaded.predict_proba(X[1::2]), tuned.predict_proba(X[1::2]))
