"""Fine-tuning recipes per memory size: each row is the estimate of the exact step it names, a tighter size gives
up the right knob, the CPU measurement agrees with the estimate, and the CLI prints and writes the table."""

import json
import math

import pytest

from tightfit.cli import main
from tightfit.errors import ConfigError
from tightfit.plan import estimate
from tightfit.plan.estimate import CUBLAS_WORKSPACE_BYTES, CUDA_CONTEXT_BYTES
from tightfit.tabular.models.tiny import query_loss
from tightfit.tabular.recipe import RecipeRow, StepShape, _episode, build_architecture, measure_row, recipe
from tightfit.train import TrainConfig

GPU_EXTRA = CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES


def test_each_row_is_the_estimate_of_its_step_and_a_tighter_size_gives_up_micro_batch_first():
    direct = estimate(build_architecture("TinyTFM"), _episode(8, 64, 32, 12, 10), TrainConfig(micro_batch=8),
                      loss_fn=query_loss, device="cuda", process=False)  # fmt: skip
    roomy_need = direct.device_peak + GPU_EXTRA
    just_under = math.ceil(roomy_need / 0.9) - 2  # within 90% of a size: the planner's safety margin
    result = recipe("TinyTFM", 2000, 12, [1_000_000, just_under, 2_000_000_000], device="cuda", max_support=64)
    tiny, tighter, roomy = result.rows_by_memory
    assert tiny.shape is None and "weights" in tiny.reason
    assert roomy.shape == StepShape(64, "base-ft", None, "fp32", False)
    assert (roomy.micro_batch, roomy.accumulation) == (8, 1)
    assert roomy.estimated_peak == direct.device_peak and roomy.budgeted_peak == roomy_need
    assert "modelled on this CPU" in result.note
    assert tighter.shape == roomy.shape  # same episode, strategy, precision: only the micro-batch gives
    assert tighter.micro_batch < 8 and tighter.micro_batch * tighter.accumulation == 8
    assert tighter.budgeted_peak <= 0.9 * just_under


def test_the_cpu_measurement_of_a_chosen_step_matches_its_estimate():
    model = build_architecture("TinyTFM")
    shape = StepShape(64, "peft", 8, "fp32", True)
    row = RecipeRow(2 * 10**9, shape, micro_batch=2, accumulation=4)
    measure_row(row, model, 12, 3)
    from tightfit.train import LoraSpec

    config = TrainConfig(micro_batch=2, checkpointing=True, lora=LoraSpec(r=8))
    predicted = estimate(model, _episode(2, 64, 32, 12, 3), config, loss_fn=query_loss, device="cpu", process=False)
    assert abs(predicted.peak - row.measured_peak) <= 0.01 * row.measured_peak


def test_the_cli_prints_and_writes_the_table(tmp_path, capsys):
    path = tmp_path / "recipe.json"
    code = main(["recipe", "TinyTFM", "--rows", "100", "--features", "8", "--memory", "1MB,2GB", "--json", str(path)])
    printed = capsys.readouterr().out
    assert code == 1  # one size fits nothing
    assert "none fits" in printed and "base-ft" in printed and "predicted" in printed
    rows = json.loads(path.read_text())["rows_by_memory"]
    assert rows[0]["shape"] is None and rows[1]["shape"]["support"] == 32 and rows[1]["shape"]["query"] == 16
    assert rows[1]["predict"]["label"].startswith("context 100")


def test_models_without_a_recipe_and_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="TabPFN is inference only"):
        recipe("TabPFN", 1000, 10, [10**9])
    with pytest.raises(ConfigError, match="memory sizes in bytes"):
        recipe("TinyTFM", 1000, 10, [])
