"""Library chatter held back for a block: loggers raised to a level and restored after."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["loggers_quieted"]


@contextlib.contextmanager
def loggers_quieted(*names: str, level: int = logging.ERROR) -> Iterator[None]:
    """The loggers ``names`` pass only records of ``level`` and above inside the block (messages the user cannot
    act on, or that tightfit reports its own way); their levels are restored after."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, before in zip(loggers, levels, strict=True):
            logger.setLevel(before)
