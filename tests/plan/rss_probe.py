"""Run in a child process by the RSS checks: the real two-step fit of a zoo config (optionally with freed memory
released to the OS at once); returns the peak RSS."""

from __future__ import annotations

from tightfit.measure.memory import peak_rss


def real_step_rss(arch: str, scale: int, index: int, release_memory: bool = False) -> int:
    import dataclasses

    from zoo import ZOO

    from tightfit.plan.estimate import _as_tensors, _grown, _step_config
    from tightfit.train import Trainer

    model, sample, configs = ZOO[arch](scale)
    config = configs[index]
    step = dataclasses.replace(_step_config(config), release_memory=release_memory)
    Trainer(model, None, step).fit(_grown(_as_tensors(sample), config.effective_batch))
    return peak_rss()
