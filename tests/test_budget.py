"""Budget: unit parsing (decimal vs binary), validation where typed, and exact round trips."""

import pytest

from tightfit import Budget, ConfigError

GB, GiB, MB, MiB = 1000**3, 1024**3, 1000**2, 1024**2


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("memory", "512MB", 512 * MB),
        ("memory", "512MiB", 512 * MiB),
        ("memory", "4GiB", 4 * GiB),
        ("memory", "4GB", 4 * GB),
        ("memory", "1.5GB", 1_500_000_000),
        ("memory", "1.5GiB", 1_610_612_736),
        ("memory", "2048", 2048),
        ("memory", 2048, 2048),
        ("memory", 1e9, 1_000_000_000),
        ("memory", "100kB", 100_000),
        ("memory", "100KiB", 102_400),
        ("memory", " 3 gb ", 3 * GB),
        ("ram", "1TB", 1000**4),
        ("ram", "1TiB", 1024**4),
        ("size", "30MB", 30 * MB),
        ("size", "10B", 10),
        ("time", "90s", 90.0),
        ("time", "10min", 600.0),
        ("time", "10m", 600.0),
        ("time", "2h", 7200.0),
        ("time", "1.5h", 5400.0),
        ("time", 45, 45.0),
        ("time", "1d", 86400.0),
        ("latency", "20ms", 0.02),
        ("latency", "250us", 0.00025),
        ("latency", "0.5s", 0.5),
        ("latency", "1e-3", 0.001),
    ],
)
def test_parses_units(field, value, expected):
    budget = Budget(**{field: value})
    assert getattr(budget, field) == expected
    assert type(getattr(budget, field)) is (int if field in ("memory", "ram", "size") else float)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory", "4 parsecs"),
        ("memory", "-1GB"),
        ("memory", "0GB"),
        ("memory", 0),
        ("memory", -5),
        ("memory", "GB"),
        ("memory", ""),
        ("memory", "1.5"),  # rounds to 2 bytes: allowed, see below; kept out of the error table
        ("memory", float("nan")),
        ("memory", float("inf")),
        ("memory", True),
        ("memory", [1]),
        ("memory", "10s"),
        ("time", "10GB"),
        ("time", "0s"),
        ("time", -3),
        ("time", "soon"),
        ("latency", "20 parsecs"),
        ("size", "0.1B"),
    ],
)
def test_bad_values_name_field_value_and_forms(field, value):
    if (field, value) == ("memory", "1.5"):
        assert Budget(memory="1.5").memory == 2
        return
    with pytest.raises(ConfigError) as info:
        Budget(**{field: value})
    message = str(info.value)
    assert f"'{field}' parameter of Budget" in message
    assert repr(value) in message
    assert ("'512MB'" in message) if field in ("memory", "ram", "size") else ("'90s'" in message)


def test_bad_device_lists_allowed_forms():
    with pytest.raises(ConfigError, match=r"'device' parameter of Budget must be one of 'auto', 'cpu'"):
        Budget(device="tpu")
    for ok in ("auto", "cpu", "cuda", "cuda:1"):
        assert Budget(device=ok).device == ok


def test_empty_budget_is_valid_and_unlimited():
    budget = Budget()
    assert budget.is_unlimited
    assert str(budget) == "unlimited"
    assert Budget.parse("unlimited") == budget == Budget.parse("")


def test_parse_cli_form():
    budget = Budget.parse("memory=2GB, time=5min,latency=20ms,size=30MiB,ram=8GiB,device=cpu")
    assert budget == Budget(memory=2 * GB, time=300, latency=0.02, size=30 * MiB, ram=8 * GiB, device="cpu")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("memory=2GB,speed=fast", r"'key' parameter of Budget.parse must be one of .*'device'.*Got 'speed'"),
        ("memory", r"key=value pairs.*Got 'memory'"),
        ("memory=", r"key=value pairs"),
        ("memory=1GB,memory=2GB", r"key 'memory' twice"),
        ("time=4 parsecs", r"'time' parameter of Budget"),
    ],
)
def test_parse_errors(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Budget.parse(text)


@pytest.mark.parametrize(
    "budget",
    [
        Budget(memory="4GiB", time="10min"),
        Budget(memory="1.5GB", latency="20ms", size=123_456_789),
        Budget(ram=1536, time=0.123456, latency=1 / 3),
        Budget(time=90.5, memory=3 * GiB + 1, device="cuda:0"),
        Budget(time=7201, latency="250us"),
        Budget(),
    ],
)
def test_str_round_trips_exactly(budget):
    assert Budget.parse(str(budget)) == budget


def test_str_uses_human_units():
    assert str(Budget(memory="4GiB", time="10min", latency="20ms")) == "memory=4GiB,time=10min,latency=20ms"
    assert str(Budget(memory="1.5GB", time=5400)) == "memory=1.5GB,time=1.5h"


def test_is_frozen_and_serialisable():
    budget = Budget(memory="1GB")
    with pytest.raises(AttributeError):
        budget.memory = 5
    assert Budget(**budget.to_dict()) == budget


def test_resolve_device_on_this_machine():
    import torch

    assert Budget().resolve_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA device"):
            Budget(device="cuda").resolve_device()
