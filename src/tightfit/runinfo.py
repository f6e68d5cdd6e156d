"""What a run was made with — library versions, the git commit, the machine — for every ``run.json``."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["environment_info", "git_commit"]

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
