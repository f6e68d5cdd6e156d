"""Helpers shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import torch

from tightfit.files import atomic_write_text
from tightfit.hardware import Hardware

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    hw = Hardware.probe()
    return {
        "cores_physical": hw.cores_physical,
        "cores_logical": hw.cores_logical,
        "ram_bytes": hw.ram_total_bytes,
        "torch": hw.torch,
        "torch_threads": torch.get_num_threads(),
        "cuda": [d.name for d in hw.cuda],
        "cpu_isa": [k for k, v in hw.cpu_isa.items() if v],
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def write(name: str, payload: dict[str, Any]) -> Path:
    return atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2))
