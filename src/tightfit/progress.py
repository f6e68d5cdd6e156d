"""A progress bar for training steps or rows: rate, ETA and the latest loss; a silent no-op when ``verbose=False``."""

from __future__ import annotations

from typing import Any

__all__ = ["StepProgress"]


class StepProgress:
    """``with StepProgress(total, verbose) as bar: bar.advance(loss=0.3)``; writes to stderr via rich."""

    def __init__(self, total: int | None, verbose: bool, description: str = "training") -> None:
        self.total = total
        self.verbose = verbose
        self.description = description
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> StepProgress:
        if self.verbose:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, rate="", status="")
        return self

    def advance(
        self, steps_per_s: float | None = None, amount: float = 1, unit: str = "step", **status: float | str
    ) -> None:
        """``amount`` more done (rows, for a bar that counts rows), at ``steps_per_s`` ``unit``/s."""
        if self._progress is None:
            return
        rate = f"{steps_per_s:,.1f} {unit}/s" if steps_per_s else ""
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in status.items())
        self._progress.update(self._task, advance=amount, rate=rate, status=text)

    def extend(self, steps: int) -> None:
        """More work was found (a follow-up entry of a search): the bar's total grows by ``steps``."""
        self.total += steps
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
