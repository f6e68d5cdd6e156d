"""TrainConfig, EarlyStop and LoraSpec fail where they are typed, naming the field, value and what is allowed."""

import pytest

from tightfit import ConfigError
from tightfit.train import EarlyStop, LoraSpec, TrainConfig


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"precision": "fp8"},
            r"'precision' parameter of TrainConfig must be one of 'bf16', 'fp16', 'fp32'. Got 'fp8'",
        ),
        ({"micro_batch": 0}, r"'micro_batch' parameter of TrainConfig must be an int >= 1. Got 0"),
        ({"accumulation": 1.5}, r"'accumulation' parameter"),
        ({"optimizer": "lion"}, r"must be one of 'adafactor', 'adamw', 'adamw8bit', 'sgd'. Got 'lion'"),
        ({"lr": -1}, r"'lr' parameter"),
        ({"schedule": "step"}, r"'schedule' parameter"),
        ({"clip_norm": 0}, r"'clip_norm' parameter"),
        ({"epochs": 0}, r"'epochs' parameter"),
        ({"checkpointing": "blocks"}, r"'checkpointing' parameter"),
        ({"lora": {"rank": 8}}, r"'lora' parameter of TrainConfig.*Got 'rank'"),
        ({"lora": 8}, r"'lora' parameter of TrainConfig"),
        ({"verbose": "yes"}, r"'verbose' parameter"),
        ({"release_memory": 1}, r"'release_memory' parameter of TrainConfig must be True or False. Got 1"),
    ],
)
def test_bad_train_config(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**kwargs)


def test_adamw8bit_without_bitsandbytes_names_the_install_and_an_alternative():
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    with pytest.raises(ConfigError, match=r"needs bitsandbytes \(pip install bitsandbytes\).*'adafactor'"):
        TrainConfig(optimizer="adamw8bit")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"r": 0}, r"'r' parameter of LoraSpec must be an int >= 1"),
        ({"alpha": 0}, r"'alpha' parameter of LoraSpec"),
        ({"dropout": 1.0}, r"'dropout' parameter of LoraSpec"),
        ({"target_modules": []}, r"'target_modules' parameter of LoraSpec"),
        ({"target_modules": "fc[1"}, r"valid regular expression"),
    ],
)
def test_bad_lora_spec(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        LoraSpec(**kwargs)


def test_early_stop_validation_and_direction():
    with pytest.raises(ConfigError, match=r"'metric' parameter of EarlyStop"):
        EarlyStop(metric="val_f1")
    with pytest.raises(ConfigError, match=r"'patience' parameter of EarlyStop"):
        EarlyStop(patience=0)
    assert EarlyStop(metric="val_accuracy").maximize and not EarlyStop().maximize


def test_lora_dict_aliases_and_round_trip():
    cfg = TrainConfig(
        lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.1},
        checkpointing=["blocks.0"],
        early_stopping=EarlyStop(patience=2),
    )
    assert cfg.lora == LoraSpec(r=4, alpha=8, dropout=0.1)
    assert cfg.effective_batch == cfg.micro_batch * cfg.accumulation
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
