"""TinyTFM as a module: invariances built into the architecture, hooks for the engine, checkpoint format."""

import pytest
import torch

from tightfit import ConfigError
from tightfit.tabular.models.tiny import TinyTFM, TinyTFMConfig, load_tiny_tfm, query_loss, save_tiny_tfm
from tightfit.train import LoraSpec
from tightfit.train.techniques.checkpointing import find_repeated_blocks
from tightfit.train.techniques.lora import apply_lora_


def _table(seed=0, tables=2, rows=50, features=6, n_context=30, classes=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tables, rows, features, generator=g)
    return x, torch.randint(0, classes, (tables, n_context), generator=g)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyTFM(TinyTFMConfig(d_model=32, n_heads=2, n_layers=2, d_ff=64)).eval()


def test_context_row_and_feature_order_do_not_change_the_output(model):
    x, y = _table()
    with torch.no_grad():
        base = model(x, y)
        rows = torch.randperm(30, generator=torch.Generator().manual_seed(1))
        shuffled = x.clone()
        shuffled[:, :30] = x[:, rows]
        by_rows = model(shuffled, y[:, rows])
        by_features = model(x[:, :, torch.randperm(6, generator=torch.Generator().manual_seed(2))], y)
    finite = base.isfinite()
    assert torch.equal(finite, by_rows.isfinite())
    assert (base[finite] - by_rows[finite]).abs().max() < 1e-5
    assert (base[finite] - by_features[finite]).abs().max() < 1e-5


def test_query_rows_do_not_see_each_other(model):
    x, y = _table()
    with torch.no_grad():
        together = model(x, y)
        alone = model(x[:, :31], y)  # only the first query row
        changed = x.clone()
        changed[:, 31:] = 100.0  # every other query row replaced
        others_changed = model(changed, y)
    assert (together[:, :1] - alone).abs().nan_to_num().max() < 1e-5
    assert (together[:, 0] - others_changed[:, 0]).abs().nan_to_num().max() < 1e-5


def test_classes_absent_from_the_context_get_zero_probability(model):
    x, _ = _table()
    y = torch.zeros(2, 30, dtype=torch.long)
    y[:, ::2] = 4  # only classes 0 and 4 in the context
    proba = torch.softmax(model(x, y), dim=-1)
    assert torch.allclose(proba[..., [0, 4]].sum(-1), torch.ones(2, 20))


def test_missing_cells_are_handled_and_change_the_input_signal(model):
    x, y = _table()
    holed = x.clone()
    holed[:, ::3, 1] = float("nan")
    with torch.no_grad():
        out = model(holed, y)
    assert out[out.isfinite()].abs().max() < 1e3 and not out.isnan().any()
    assert not torch.allclose(out.nan_to_num(), model(x, y).detach().nan_to_num())


def test_engine_hooks_blocks_for_checkpointing_and_lora():
    torch.manual_seed(0)
    net = TinyTFM(TinyTFMConfig(d_model=32, n_heads=2, n_layers=3, d_ff=64))
    assert find_repeated_blocks(net) == ["blocks.0", "blocks.1", "blocks.2"]
    applied = apply_lora_(net, LoraSpec(r=4, target_modules=["qkv"], trainable_modules=("decoder",)))
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("decoder.") for n in trainable)
    assert any(".features.qkv.lora_A" in n for n in trainable) and any(".rows.qkv.lora_B" in n for n in trainable)
    assert applied.trainable_params < 0.25 * sum(p.numel() for p in net.parameters())
    x, y = _table()
    target = torch.randint(0, 3, (2, 20))
    query_loss(net(x, y), target).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_query_loss_ignores_classes_the_context_lacks(model):
    x, y = _table(classes=2)
    target = torch.full((2, 20), -100)
    target[:, 0] = 1
    loss = query_loss(model(x, y), target)
    assert torch.isfinite(loss)


def test_checkpoint_round_trip_is_bit_for_bit_with_a_card(tmp_path, model):
    path = save_tiny_tfm(model, tmp_path / "m.pt", card={"note": "test"})
    loaded = load_tiny_tfm(path)
    assert loaded.config == model.config
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    card = (tmp_path / "m.json").read_text()
    assert '"note": "test"' in card and '"parameters"' in card
    torch.save({"format_version": 99}, tmp_path / "old.pt")
    with pytest.raises(ConfigError, match="format version 1"):
        load_tiny_tfm(tmp_path / "old.pt")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"d_model": 30, "n_heads": 4}, "d_model"),
        ({"max_classes": 1}, "max_classes"),
        ({"features_per_token": 0}, "features_per_token"),
    ],
)
def test_bad_architecture_is_rejected_where_typed(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        TinyTFMConfig(**kwargs)


def test_encoded_context_then_queries_equals_one_forward_over_both():
    from tightfit.tabular.classifier import shipped_weights
    from tightfit.tabular.models.tiny import load_tiny_tfm

    model = load_tiny_tfm(shipped_weights())
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 60, 7, generator=generator)
    x[0, 3, 2] = x[1, 55, 1] = float("nan")
    y = torch.randint(0, 3, (2, 50), generator=generator)
    with torch.no_grad():
        joint = model(x, y)
        cache = model.encode_context(x[:, :50], y)
        split = model.forward_queries(cache, x[:, 50:])
    torch.testing.assert_close(split, joint, rtol=0, atol=1e-5)


def test_grouped_cells_pack_k_features_per_token_and_pad_with_constant_cells():
    from tightfit.tabular.models.tiny import group_cells

    values = torch.arange(2 * 7, dtype=torch.float32).view(1, 2, 7)
    missing = torch.zeros(1, 2, 7)
    missing[0, 1, 6] = 1.0
    grouped = group_cells(values, missing, 3)
    assert grouped.shape == (1, 2, 3, 6)  # 7 features -> 3 tokens of 3 (value, missing) pairs
    assert grouped[0, 1, 1].tolist() == [10, 0, 11, 0, 12, 0]  # row 1, features 3..5
    assert grouped[0, 1, 2].tolist() == [13, 1, 0, 0, 0, 0]  # feature 6 (missing), then two constant pads


def test_grouped_model_keeps_row_invariance_token_order_invariance_and_the_context_cache():
    torch.manual_seed(0)
    grouped = TinyTFM(TinyTFMConfig(d_model=32, n_heads=2, n_layers=2, d_ff=64, features_per_token=2)).eval()
    x, y = _table()
    with torch.no_grad():
        base = grouped(x, y)
        rows = torch.randperm(30, generator=torch.Generator().manual_seed(1))
        shuffled = x.clone()
        shuffled[:, :30] = x[:, rows]
        by_rows = grouped(shuffled, y[:, rows])
        by_tokens = grouped(x[:, :, [4, 5, 0, 1, 2, 3]], y)  # whole groups moved: the same tokens, reordered
        within = grouped(x[:, :, [1, 0, 2, 3, 4, 5]], y)  # two cells of one token swapped: a different token
        split = grouped.forward_queries(grouped.encode_context(x[:, :30], y), x[:, 30:])
    finite = base.isfinite()
    assert (base[finite] - by_rows[finite]).abs().max() < 1e-5
    assert (base[finite] - by_tokens[finite]).abs().max() < 1e-5
    assert (base[finite] - within[finite]).abs().max() > 1e-3
    torch.testing.assert_close(split, base, rtol=0, atol=1e-5)


def test_grouping_cuts_the_forward_flops_of_a_wide_table():
    from torch.utils.flop_counter import FlopCounterMode

    def flops(features_per_token):
        torch.manual_seed(0)
        net = TinyTFM(TinyTFMConfig(features_per_token=features_per_token)).eval()
        x, y = _table(tables=1, rows=200, features=100, n_context=150)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(x, y)
        return counter.get_total_flops()

    one, four = flops(1), flops(4)
    assert one / four > 3.5  # 101 tokens per row -> 26: every per-token cost falls ~3.9x, feature attention ~15x


def test_regroup_starts_each_token_as_the_sum_of_its_cells_embeddings(model):
    from tightfit.tabular.models.tiny import group_cells, regroup

    grouped = regroup(model, 3)
    assert grouped.config.features_per_token == 3 and grouped.cell.weight.shape == (32, 6)
    cells = torch.randn(4, 5, 2)  # 5 cells of 4 rows, as (value, missing)
    one_by_one = model.cell(cells)  # (4, 5, 32)
    packed = grouped.cell(group_cells(cells[..., 0].unsqueeze(0), cells[..., 1].unsqueeze(0), 3))[0]
    bias = model.cell.bias
    torch.testing.assert_close(packed[:, 0], one_by_one[:, :3].sum(1) - 2 * bias)
    torch.testing.assert_close(packed[:, 1], one_by_one[:, 3:].sum(1) - bias)  # two cells, one constant pad
    assert torch.equal(grouped.blocks[0].ff[0].weight, model.blocks[0].ff[0].weight)
    with pytest.raises(ConfigError, match="features_per_token=1"):
        regroup(grouped, 2)
