"""`choose_config` / `tuning_params="auto"`: fine-tuning settings searched for the best held-out quality that fits,
each one measured in its own capped process; fixed keys kept; what cannot be fine-tuned says so."""

import operator

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError
from tightfit.tabular import TabularPipeline, choose_config
from tightfit.tabular.autotune import TuneSetting, _EngineScreen
from tightfit.tabular.recipe import build_architecture
from tightfit.units import parse_bytes

FAST = {"support_size": 32, "epochs": 1, "steps_per_epoch": 3}  # fixed keys: one episode size, a short fit


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))[:240]
    return X[rows], y[rows]


def test_auto_measures_every_setting_keeps_fixed_keys_and_fits_with_the_best_held_out_loss(cancer, tmp_path):
    X, y = cancer
    pipe = TabularPipeline("TinyTFM", tuning_params={"auto": True, **FAST})
    assert pipe.tuning_strategy == "inference" and pipe.auto_tuning  # searched at fit, not before
    pipe.fit(X, y)
    choice = pipe.config_choice_
    entries = choice.leaderboard.entries
    assert [e.spec.strategy for e in entries] == ["inference", "peft", "peft", "base-ft"]  # ranks 8, 4
    for e in entries:
        assert e.status in ("fits", "chosen"), e.reason
        assert 0 < e.measured.quality < 1 and e.measured.memory_peak_bytes > 100e6
        assert e.measured.projected_s >= e.measured.fit_s
    for e in entries[1:]:  # fine-tunes: the support is the fixed one, the engine chosen by the estimate
        assert (e.spec.support, e.spec.query, e.spec.precision, e.spec.micro_batch) == (32, 16, "fp32", 4)
        assert e.measured.extra["probe_steps"] == 3 and e.measured.extra["step_time_s"] > 0
    best = min(e.measured.quality for e in entries)
    tied = [e for e in entries if e.measured.quality <= best * 1.01]
    assert choice.leaderboard.chosen is min(tied, key=lambda e: e.measured.projected_s)
    assert pipe.tuning_strategy == choice.strategy == choice.leaderboard.chosen.spec.strategy
    if choice.strategy != "inference":
        assert pipe.tuning.support_size == 32 and pipe.finetune_ is not None and pipe.finetune_.train.steps == 3
    else:
        assert pipe.finetune_ is None
    points = {i: (e.measured.quality, e.measured.memory_peak_bytes, e.measured.projected_s)
              for i, e in enumerate(entries)}  # fmt: skip
    dominated = {i for i, p in points.items() if any(q != p and all(map(operator.le, q, p)) for q in points.values())}
    assert set(choice.frontier) == set(points) - dominated and choice.frontier
    assert choice.plot(tmp_path / "pareto.png").stat().st_size > 10_000
    rows, _ = choice.rows()
    assert [r["setting"] for r in rows] == [e.name for e in entries] and rows[1]["time/step"].endswith("s")
    saved = TabularPipeline.load(pipe.save(tmp_path / "model"))
    assert saved.tuning_strategy == pipe.tuning_strategy
    np.testing.assert_allclose(saved.predict_proba(X[:20]), pipe.predict_proba(X[:20]), atol=1e-6)
    assert saved.fit(X[:120], y[:120]).config_choice_ is None  # refits with the chosen setting, no new search


def test_a_time_budget_drops_the_settings_whose_projected_fit_is_longer(cancer):
    X, y = cancer
    fixed = FAST | {"epochs": 5, "steps_per_epoch": 40, "peft_config": {"r": 2}}  # 200 steps: far over 5 s
    with pytest.raises(BudgetExceeded, match=r"peft r2, 32/16, fp32 4x1: predicted fit time \d+(\.\d)?s > budget 5s"):
        choose_config("TinyTFM", X, y, Budget(time="5s"), fixed=fixed, probe_steps=2, verbose=False)


def test_the_engine_gives_up_speed_within_a_tight_memory_budget_and_keeps_fixed_precision():
    network = build_architecture("TinyTFM", {"n_layers": 1})  # one block: a third of the estimates' ops
    setting = TuneSetting("base-ft", None, 512, 256)  # activations dominate the process

    def screened(memory: int, fixed: dict):
        from tightfit.search import Entry
        from tightfit.tabular.tuning import TuningParams

        entry = Entry(setting.label, setting)
        screen = _EngineScreen(network, 30, 2, Budget(memory=memory), fixed, TuningParams.from_dict(fixed))
        return entry, screen(entry)

    roomy, verdict = screened(parse_bytes("16GB"), {})
    assert verdict is None
    assert (roomy.spec.precision, roomy.spec.micro_batch, roomy.spec.checkpointing) == ("fp32", 4, False)
    need = roomy.details["estimated_peak_bytes"]
    tight, verdict = screened(int(need * 0.8 / 0.9), {"mixed_precision": "fp32"})
    assert verdict is None and tight.spec.precision == "fp32"  # fixed: not traded for bf16
    assert (tight.spec.micro_batch, tight.spec.checkpointing) != (4, False)
    assert tight.spec.micro_batch * tight.spec.accumulation == 4  # the effective batch stays
    assert tight.details["estimated_peak_bytes"] <= 0.9 * int(need * 0.8 / 0.9)
    _, verdict = screened(parse_bytes("300MB"), {"mixed_precision": "fp32"})
    assert verdict.status == "over_limit" and verdict.limit == "memory" and "estimated" in verdict.reason


def test_a_model_that_is_not_fine_tuned_searches_only_inference_and_says_so():
    X, y = load_wine(return_X_y=True)
    pipe = TabularPipeline("LightGBM", tuning_params="auto").fit(X, y)
    [only] = pipe.config_choice_.leaderboard.entries
    assert only.name == "inference" and only.status == "chosen" and only.measured.quality < 0.5
    assert pipe.tuning_strategy == "inference" and any("not fine-tuned" in n for n in pipe.notes_)


def test_bad_auto_requests_are_refused_where_typed():
    with pytest.raises(ConfigError, match="support_size"):
        TabularPipeline("TinyTFM", tuning_params={"auto": True, "suport_size": 32})
    with pytest.raises(ConfigError, match="auto"):
        TabularPipeline("TinyTFM", tuning_params={"auto": "yes"})
    with pytest.raises(ConfigError, match="regression"):
        TabularPipeline("LightGBM", task_type="regression", tuning_params="auto")
    with pytest.raises(ConfigError, match="peft"):
        TabularPipeline("LightGBM", tuning_strategy="peft", tuning_params="auto")
    with pytest.raises(ConfigError, match="ranks"):
        choose_config("TinyTFM", [[0.0]] * 30, [0, 1] * 15, ranks=())


def test_the_recipe_command_searches_a_table_and_writes_the_report(tmp_path, capsys):
    from tightfit.cli import main

    data = load_wine(as_frame=True).frame
    data.to_csv(tmp_path / "wine.csv", index=False)
    code = main(["recipe", "LightGBM", "--data", str(tmp_path / "wine.csv"), "--target", "target",
                 "--budget", "memory=4GB", "--out", str(tmp_path / "run"), "--quiet"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "chosen: inference -> tuning_strategy='inference'" in printed and "not fine-tuned" in printed
    assert (tmp_path / "run" / "pareto.png").stat().st_size > 10_000
    assert "inference" in (tmp_path / "run" / "report.html").read_text()
    assert main(["recipe", "TinyTFM"]) == 2 and "--rows and --features" in capsys.readouterr().err
