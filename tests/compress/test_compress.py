"""compress() on models trained here by the engine (digits): every variant measured, the choice follows the
rule, limits and the quality tolerance reject with the measured reason, exported artefacts load back."""

import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from tightfit import Budget
from tightfit.compress import compress, dynamic_int8, load_exported, magnitude_prune
from tightfit.errors import ConfigError, DataError
from tightfit.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def trained(digits):
    X, y, X_test, y_test = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    Trainer(model, None, TrainConfig(epochs=8, micro_batch=64, lr=3e-3, verbose=False)).fit((X, y))
    return model.eval(), torch.tensor(X), torch.tensor(X_test), y_test


def accuracy_on(X_test, y_test):
    return lambda variant: float((np.asarray(variant(X_test)).argmax(1) == y_test).mean())


def test_variants_are_measured_and_the_fastest_acceptable_is_chosen(trained, tmp_path):
    model, X, X_test, y_test = trained
    report = compress(
        model, X[:64], eval_fn=accuracy_on(X_test, y_test), max_quality_drop=0.01,
        techniques=("dynamic_int8", "onnx", "onnx_int8", "prune", "magnitude_prune"), verbose=False,
    )  # fmt: skip
    table = report.table
    assert list(table["variant"]) == [
        "original (fp32 PyTorch)", "dynamic_int8", "onnx", "onnx_int8", "prune", "magnitude_prune",
    ]  # fmt: skip
    assert report.original.quality > 0.9  # a real model: accuracy on held-out digits
    by_name = {v.name: v for v in report.variants}
    assert by_name["dynamic_int8"].size_bytes * 3 < report.original.size_bytes  # int8 weights: about 4x smaller
    assert by_name["onnx_int8"].size_bytes * 3 < by_name["onnx"].size_bytes
    assert by_name["onnx"].details["parity_min_cosine"] >= 0.999
    assert by_name["onnx"].quality == pytest.approx(report.original.quality)
    pruned = by_name["prune"]
    assert pruned.details["prune"]["shrunk"] == {"0": (256, 179), "2": (256, 179)}
    assert pruned.size_bytes < 0.75 * report.original.size_bytes
    for v in [report.original, *report.variants]:  # every figure measured, for each batch size
        assert set(v.latency) == {1, 32} and all(v.latency[b]["p50_s"] > 0 for b in (1, 32))
    accepted = [v for v in [report.original, *report.variants] if v.verdict in ("fits", "chosen")]
    assert report.best in accepted and report.best.verdict == "chosen"
    assert report.best.p50(32) <= min(v.p50(32) for v in accepted) * 1.02
    for v in report.variants:
        if v.verdict == "over_limit":
            assert v.reason.startswith("quality drop") and report.original.quality - v.quality > 0.01
    assert report.plot(tmp_path / "pareto.png").stat().st_size > 5_000
    assert json.loads(report.to_json())["best"] == report.best.name


def test_quality_tolerance_and_limits_reject_with_the_measured_reason(trained):
    model, X, X_test, y_test = trained
    report = compress(
        model, X[:64], eval_fn=accuracy_on(X_test, y_test), budget=Budget(size="100KB"), max_quality_drop=0.0,
        techniques=("onnx_int8", "magnitude_prune"), sparsity=0.95, verbose=False,
    )  # fmt: skip
    original, by_name = report.original, {v.name: v for v in report.variants}
    int8, pruned = by_name.pop("onnx_int8"), by_name.pop("magnitude_prune")
    assert original.verdict == "over_limit" and "size 340kB > 100kB" in original.reason
    assert pruned.verdict == "over_limit" and "quality drop" in pruned.reason  # 95% of weights gone
    assert report.leaderboard.binding.binding == "size" and "exceeded 100kB" in report.leaderboard.binding.evidence
    assert pruned.details["magnitude_prune"]["zero_fraction"] == pytest.approx(0.95, abs=0.01)
    # int8 accuracy depends on the CPU's int8 kernels (VNNI or not): when it drops at all, the follow-ups that
    # keep the most error-prone MatMuls in float are measured too, and only a variant without a drop may win
    int8_variants = [int8, *by_name.values()]
    assert all("MatMuls float" in name for name in by_name) and bool(by_name) == (int8.quality < original.quality)
    assert all(v.size_bytes < 100_000 for v in int8_variants)
    exact = [v for v in int8_variants if v.quality >= original.quality]
    assert all("quality drop" in v.reason for v in int8_variants if v not in exact)
    assert (report.best in exact) if exact else (report.best is None)


def test_default_quality_is_fidelity_and_latency_limit_binds(trained):
    model, X, *_ = trained
    report = compress(model, X[:32], budget=Budget(latency="1ns"), techniques=("onnx",), verbose=False)
    assert report.original.quality == pytest.approx(1.0)
    assert report.variants[0].quality > 0.9999
    assert report.best is None
    assert all("latency p95" in v.reason and "> 1ns" in v.reason for v in [report.original, *report.variants])
    assert report.leaderboard.binding.binding == "latency" and "dynamic_int8" in report.leaderboard.binding.techniques


class _DeadlineAfterOneEntry:
    """A deadline that passes once the first entry (the original) has started: deterministic, unlike a clock."""

    seconds = 5.0

    def __init__(self) -> None:
        self.asked = 0

    def left(self) -> float:
        self.asked += 1
        return 5.0 if self.asked == 1 else 0.0

    def elapsed(self) -> float:
        return 5.0


def test_a_passed_deadline_starts_no_more_variants_and_keeps_the_measured_original(trained):
    model, X, *_ = trained
    report = compress(model, X[:32], budget=Budget(time="5s"), techniques=("dynamic_int8", "onnx"),
                      batch_sizes=(1,), verbose=False, deadline=_DeadlineAfterOneEntry())  # fmt: skip
    assert report.original.verdict == "chosen" and report.best is not None
    assert [v.verdict for v in report.variants] == ["skipped", "skipped"]
    assert all("ran out before it started" in v.reason for v in report.variants)
    assert report.leaderboard.binding.binding == "time" and report.leaderboard.ignored == []


def test_exported_variants_load_back_identical_and_tampering_is_refused(trained, tmp_path):
    model, X, *_ = trained
    report = compress(model, X[:16], techniques=("onnx_int8", "prune"), batch_sizes=(4,), verbose=False)
    for variant in report.variants:
        path = variant.save(tmp_path / variant.name.replace("+", "_"))
        loaded, meta = load_exported(path)
        assert meta["technique"] == variant.technique and meta["inputs"][0]["shape"] == ["batch", 64]
        assert meta["latency"]["4"]["p50_s"] == variant.latency[4]["p50_s"]
        with torch.no_grad():
            np.testing.assert_allclose(np.asarray(loaded(X[:8])), np.asarray(variant(X[:8])), rtol=1e-6, atol=1e-6)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="SHA-256 differs"):
        load_exported(path)
    pruned = next(v for v in report.variants if v.module is not None)
    whole = dataclasses.replace(pruned, example_inputs=None).save(tmp_path / "whole")  # nothing to trace with
    assert json.loads(whole.with_suffix(".pt.json").read_text())["kind"] == "module"
    with pytest.raises(DataError, match=r"pickle-based .*trust=True"):  # torch.save's pickle: not without trust
        load_exported(whole)
    loaded, _ = load_exported(whole, trust=True)
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(loaded(X[:8])), np.asarray(pruned(X[:8])), rtol=1e-6, atol=1e-6)


def test_bad_input_is_named_at_the_call(trained):
    model, X, *_ = trained
    with pytest.raises(ConfigError, match=r"techniques.*'quantize'"):
        compress(model, X[:8], techniques=("quantize",))
    with pytest.raises(ConfigError, match="only the last may be"):
        compress(model, X[:8], techniques=("onnx+prune",))
    with pytest.raises(ConfigError, match="distill' needs student="):
        compress(model, X[:8], techniques=("distill",))
    with pytest.raises(ConfigError, match="max_quality_drop"):
        compress(model, X[:8], max_quality_drop=-1)
    with pytest.raises(ConfigError, match="batch_sizes"):
        compress(model, X[:8], batch_sizes=(0,))
    with pytest.raises(ConfigError, match=r"'sparsity' parameter of compress must be a fraction in \(0, 1\). Got 1.5"):
        compress(model, X[:8], sparsity=1.5)
    with pytest.raises(ConfigError, match=r"'distill_loss' parameter of compress.*Got 'l1'"):
        compress(model, X[:8], distill_loss="l1")
    with pytest.raises(ConfigError, match="'calibration_rows' parameter"):
        compress(model, X[:8], calibration_rows=0)


def test_unsupported_layers_are_listed_not_fatal_and_failures_are_rows():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 14, 3)).eval()
    quantized, info = dynamic_int8(model)
    assert info["quantized_layers"] == 1 and "covers Linear, LSTM and GRU layers only" in info["skipped"]["0"]
    x = torch.randn(8, 1, 16)
    assert torch.nn.functional.cosine_similarity(quantized(x), model(x)).min() > 0.99
    report = compress(model, x, techniques=("prune", "fp16"), batch_sizes=(2,), verbose=False)
    prune, fp16 = report.variants
    # the dependency graph follows the convolution's channels through Flatten into the Linear's columns
    assert prune.details["prune"]["shrunk"] == {"0": (4, 3)} and prune.module[2].weight.shape == (3, 3 * 14)
    assert fp16.verdict == "failed" and "CUDA" in fp16.reason
    only_output = nn.Sequential(nn.Linear(16, 3)).eval()  # nothing but the model's output width to prune
    report = compress(only_output, torch.randn(8, 16), techniques=("prune",), batch_sizes=(2,), verbose=False)
    (prune,) = report.variants
    assert prune.verdict == "failed" and "no channel group could be shrunk" in prune.reason
    assert "output width" in prune.reason and report.best is report.original


class _Recurrent(nn.Module):
    def __init__(self, kind: type[nn.Module]) -> None:
        super().__init__()
        self.rnn = kind(16, 64, batch_first=True, num_layers=2)
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_dynamic_int8_quantizes_recurrent_layers(kind):
    torch.manual_seed(0)
    model = _Recurrent(kind).eval()
    quantized, info = dynamic_int8(model)
    assert info["quantized_layers"] == 2 and info["skipped"] == {}
    assert type(quantized.rnn).__module__.startswith("torch.ao.nn.quantized.dynamic")  # int8 weights, not fp32
    x = torch.randn(16, 12, 16)
    assert torch.nn.functional.cosine_similarity(quantized(x), model(x)).min() > 0.99
    assert _state_bytes(quantized) * 2.5 < _state_bytes(model)


def test_dynamic_int8_runs_transformer_encoders_whose_fast_path_reads_float_weights():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
    model = nn.Sequential(encoder, nn.Flatten(), nn.Linear(8 * 32, 3)).eval()
    quantized, info = dynamic_int8(model)
    x = torch.randn(16, 8, 32)
    with torch.no_grad():  # the fast path runs under no_grad in eval mode: it failed there on the quantized copy
        assert torch.nn.functional.cosine_similarity(quantized(x), model(x)).min() > 0.99
    assert info["quantized_layers"] == 5  # linear1 and linear2 of both layers, and the head
    assert info["fast_path_off"] == ["0", "0.layers.0", "0.layers.1"]
    assert all(isinstance(m.linear1.weight, torch.Tensor) for m in model.modules() if isinstance(m, type(layer)))


def _state_bytes(module: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue())


def test_magnitude_prune_zeroes_the_smallest_weights(trained):
    model, *_ = trained
    pruned, info = magnitude_prune(model, 0.5)
    for before, after in zip(model, pruned, strict=True):
        if isinstance(before, nn.Linear):
            zeroed = after.weight == 0
            assert zeroed.float().mean() == pytest.approx(0.5, abs=0.01)
            assert before.weight.abs()[zeroed].max() <= before.weight.abs()[~zeroed].min()
    assert info["zero_fraction"] == pytest.approx(0.5, abs=0.01)
