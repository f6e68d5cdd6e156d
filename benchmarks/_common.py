"""Helpers shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from tightfit.files import atomic_write_text
from tightfit.hardware import Hardware

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    return Hardware.probe().summary()


def median(values: list[float]) -> float:
    return statistics.median(values)


def write(name: str, payload: dict[str, Any]) -> Path:
    return atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2))
