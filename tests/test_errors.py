"""Errors subclass the builtins they replace and format one sorted template."""

import pickle

from tightfit.errors import BudgetExceeded, ConfigError, DataError, TightfitError, bad_param


def test_hierarchy():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, TightfitError)
    assert issubclass(DataError, ValueError)
    assert issubclass(BudgetExceeded, RuntimeError)


def test_template_sorts_allowed_values():
    err = bad_param("precision", "TrainConfig", {"fp32", "fp16", "bf16"}, "fp8")
    assert str(err) == (
        "The 'precision' parameter of TrainConfig must be one of 'bf16', 'fp16', 'fp32'. Got 'fp8' instead."
    )


def test_budget_exceeded_keeps_fields_through_pickle():
    err = BudgetExceeded("memory", 10**9, 2 * 10**9, detail="at step 3", hint="try precision='bf16'")
    assert str(err) == "memory budget exceeded: 2GB > limit 1GB (at step 3); try precision='bf16'"
    back = pickle.loads(pickle.dumps(err))
    assert (back.kind, back.limit, back.observed, str(back)) == ("memory", 10**9, 2 * 10**9, str(err))
    assert "time budget exceeded: 1.5s > limit 1s" in str(BudgetExceeded("time", 1.0, 1.5))
