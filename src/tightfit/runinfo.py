"""What a run was made with — library versions, the git commit, the machine — for every ``run.json``."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["environment_info", "git_commit", "human_machine", "write_run_json"]

_LIBRARIES = (
    "tightfit",
    "torch",
    "numpy",
    "peft",
    "scikit-learn",
    "lightgbm",
    "onnxruntime",
    "statsforecast",
    "tabicl",
)


def git_commit(path: str | Path = ".") -> str | None:
    """The HEAD commit of the git repository containing ``path`` (with ``+dirty`` if it has changes), else None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def environment_info() -> dict[str, Any]:
    """Python, platform, installed versions of the libraries tightfit uses, and the git commit of the cwd."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": git_commit(),
    }


def human_machine(summary: dict[str, Any]) -> dict[str, str]:
    """A machine summary in human units (``ram_bytes: 25275973632`` -> ``ram: 25.3GB``), lists joined."""
    from tightfit.units import format_bytes

    shown = {}
    for key, value in summary.items():
        if isinstance(value, list):
            shown[key.replace("_", " ")] = ", ".join(map(str, value)) or "none"
        elif key.endswith("_bytes"):
            shown[key.removesuffix("_bytes").replace("_", " ")] = format_bytes(value)
        else:
            shown[key.replace("_", " ")] = str(value)
    return shown


def write_run_json(out: str | Path, record: dict[str, Any], hardware: Any = None) -> Path:
    """Write ``out/run.json``: ``record`` plus the machine (bytes, and in human units) and the environment;
    ``hardware`` is a :class:`~tightfit.hardware.Hardware` the caller already probed (None: probe now)."""
    import json

    from tightfit.files import atomic_write_text
    from tightfit.hardware import Hardware

    machine = (hardware or Hardware.probe()).summary()
    full = {**record, "machine": machine, "machine_human": human_machine(machine), "environment": environment_info()}
    return atomic_write_text(Path(out) / "run.json", json.dumps(full, indent=2, default=str))
