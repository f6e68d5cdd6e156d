"""Run in a child process by the RSS checks: the real two-step fit of a zoo config; returns the peak RSS."""

from __future__ import annotations

from tightfit.measure.memory import peak_rss


def real_step_rss(arch: str, scale: int, index: int) -> int:
    from zoo import ZOO

    from tightfit.plan.estimate import _as_tensors, _grown, _step_config
    from tightfit.train import Trainer

    model, sample, configs = ZOO[arch](scale)
    config = configs[index]
    Trainer(model, None, _step_config(config)).fit(_grown(_as_tensors(sample), config.effective_batch))
    return peak_rss()
