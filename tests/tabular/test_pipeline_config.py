"""TabularPipeline's options: each TabTune key maps to the engine setting it names, and bad options raise at
construction with the argument, the value and what is allowed."""

import pytest

from tightfit import Budget, ConfigError
from tightfit.tabular import TabularPipeline, TuningParams
from tightfit.tabular.backends import model_spec


def test_every_documented_tuning_key_reaches_the_engine_config():
    params = TuningParams.from_dict(
        {
            "device": "cpu", "epochs": 7, "learning_rate": 2e-4, "batch_size": 4, "support_size": 100,
            "query_size": 50, "steps_per_epoch": 3, "weight_decay": 0.05, "warmup_steps": 2, "scheduler": "linear",
            "mixed_precision": "bf16", "gradient_checkpoint": True, "gradient_accumulation_steps": 2,
            "num_workers": 0, "pin_memory": False, "early_stopping": True, "early_stopping_patience": 4,
            "gradient_clip_norm": 0.5, "seed": 3, "save_checkpoint_path": "/tmp/x", "show_progress": False,
            "peft_config": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1}, "finetune_mode": "sft",
        }
    )  # fmt: skip
    config = params.train_config(lora=True)
    assert (config.epochs, config.lr, config.micro_batch, config.accumulation) == (7, 2e-4, 4, 2)
    assert (config.weight_decay, config.warmup, config.schedule) == (0.05, 2, "linear")
    assert (config.precision, config.checkpointing, config.clip_norm, config.seed) == ("bf16", True, 0.5, 3)
    assert config.early_stopping.patience == 4 and config.early_stopping.metric == "val_loss"
    assert (config.checkpoint_dir, config.verbose) == ("/tmp/x", False)
    assert (config.lora.r, config.lora.alpha, config.lora.dropout) == (4, 8, 0.1)
    assert params.episodes_per_epoch == 3 * 4 * 2
    assert params.train_config(lora=False).lora is None
    assert TuningParams(mixed_precision="no").mixed_precision == "fp32"
    assert TuningParams(scheduler="none").scheduler == "constant"


def test_unknown_tuning_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"'learning_rat'.*did you mean 'learning_rate'"):
        TabularPipeline(tuning_strategy="base-ft", tuning_params={"learning_rat": 1e-3})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_name": "LightGBM", "tuning_strategy": "peft"}, r"'peft' is not available for model_name='LightGBM'"),
        ({"tuning_strategy": "base-ft", "tuning_params": {"mixed_precision": "fp16", "device": "cpu"}}, "fp16.*CUDA"),
        ({"tuning_params": {"epochs": 3}}, r"\['epochs'\] act only when fine-tuning"),
        ({"tuning_strategy": "base-ft", "tuning_params": {"peft_config": {"r": 4}}}, "needs tuning_strategy='peft'"),
        ({"tuning_strategy": "peft", "tuning_params": {"peft_config": {"r": 0}}}, "'r' parameter of LoraSpec"),
        ({"tuning_strategy": "base-ft", "tuning_params": {"n_episodes": 10, "steps_per_epoch": 2}}, "give one"),
        ({"tuning_strategy": "base-ft", "tuning_params": {"epochs": 0}}, "'epochs' parameter of tuning_params"),
        ({"tuning_strategy": "base-ft", "tuning_params": {"finetune_mode": "maml"}}, "'finetune_mode'"),
        ({"tuning_strategy": "warm"}, "'tuning_strategy' parameter"),
        ({"model_name": "XGBoostt"}, "Unknown key 'XGBoostt' in model_name"),
        ({"model_name": "LogisticRegression", "task_type": "regression"}, "supports task_type 'classification'"),
        ({"task_type": "ranking"}, "'task_type' parameter"),
        ({"model_params": {"n_estimator": 4}}, "did you mean 'n_estimators'"),
        ({"processor_params": {"scaling": "standard"}}, "did you mean 'scaling_strategy'"),
        ({"processor_params": {"scaling_strategy": "robust"}}, "'scaling_strategy' parameter of processor_params"),
        ({"processor_params": {"max_categories": 1}}, "'max_categories'"),
        ({"budget": {"memory": "2GB"}}, "'budget' parameter"),
        ({"model_name": "TabICL", "model_path": "/nonexistent/tabicl.ckpt"}, "does not exist; put a TabICL checkpoint"),
    ],
)
def test_bad_options_raise_at_construction(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TabularPipeline(**kwargs)


def test_model_names_ignore_case_and_punctuation():
    assert model_spec("tiny-tfm").name == "TinyTFM"
    assert model_spec("random_forest").name == "RandomForest"
    assert TabularPipeline(model_name="LOGISTIC REGRESSION").model_name == "LogisticRegression"
    assert TabularPipeline(tuning_strategy="finetune").tuning_strategy == "base-ft"


def test_tabpfn_without_its_package_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tabpfn" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install tabpfn"):
        TabularPipeline(model_name="TabPFN")


def test_the_linear_baseline_imputes_and_scales_by_default_and_the_user_overrides():
    pipe = TabularPipeline(model_name="LogisticRegression")
    assert (pipe.processor.imputation_strategy, pipe.processor.scaling_strategy) == ("median", "standard")
    pipe = TabularPipeline(model_name="LogisticRegression", processor_params={"scaling_strategy": "quantile"})
    assert pipe.processor.scaling_strategy == "quantile"
    assert TabularPipeline(budget=Budget(memory="2GB")).budget.memory == 2 * 10**9


def test_regression_pipelines_report_regression_metrics():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    train, test = slice(0, 300), slice(300, None)
    scores = {
        name: TabularPipeline(name, task_type="regression").fit(X[train], y[train]).evaluate(X[test], y[test])
        for name in ("Ridge", "LightGBM")
    }
    assert set(scores["Ridge"]) == {"r2", "rmse", "mae", "median_ae", "mape"}
    assert scores["Ridge"]["r2"] > 0.4 and scores["LightGBM"]["r2"] > 0.2
    with pytest.raises(ConfigError, match="predict_proba needs task_type='classification'"):
        TabularPipeline("Ridge", task_type="regression").fit(X[train], y[train]).predict_proba(X[test])


def test_tabicl_without_a_checkpoint_says_where_to_put_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"no TabICL checkpoint .* in the Hugging Face cache; put a TabICL checkpoint"
    ):
        TabularPipeline(model_name="TabICL")
