"""Launch files for a plan made for several devices: the script every rank runs, the ``torchrun`` line that
starts it, and an Accelerate config for ``accelerate launch`` — the launchers people already use; tightfit
writes no scheduler of its own.

The script loads the workload the plan was made for (``package.module:callable`` returning ``(model,
train_data)``, as ``tightfit plan --model`` takes it) and the chosen config from ``run.json``, and trains it
with :class:`~tightfit.train.Trainer`, which joins the process group the launcher describes.
"""

from __future__ import annotations

from pathlib import Path

from tightfit.errors import ConfigError, bad_param
from tightfit.files import atomic_write_text
from tightfit.params import Interval, check

__all__ = ["launch_files"]

_SCRIPT = '''"""Written by `tightfit plan --world-size {world}`: each rank runs this file.
Start it with:  {torchrun}
"""

import importlib
import json
from pathlib import Path

from tightfit.train import TrainConfig, Trainer

module, _, name = {workload!r}.partition(":")
model, train_data = getattr(importlib.import_module(module), name)()
config = TrainConfig.from_dict(json.loads((Path(__file__).parent / "run.json").read_text())["chosen_config"])
result = Trainer(model, None, config).fit(train_data)
result.save_run(Path(__file__).parent / "trained")  # rank 0 writes
'''


def launch_files(config, world_size: int, workload: str, out: str | Path, nodes: int = 1,
                 device: str = "cuda") -> dict[str, Path]:  # fmt: skip
    """Write ``train.py``, ``launch.sh`` (the ``torchrun`` line) and ``accelerate_config.yaml`` into ``out``
    for ``config`` (a planned ``TrainConfig``) on ``world_size`` ranks over ``nodes`` machines; returns the paths.
    ``run.json`` with the chosen config must be (or be put) beside them."""
    check("launch_files", world_size=(world_size, Interval(int, 2)), nodes=(nodes, Interval(int, 1)))
    if world_size % nodes:
        raise bad_param("nodes", "launch_files", f"a divisor of world_size={world_size}", nodes)
    if ":" not in workload:
        raise ConfigError(f"workload must look like 'package.module:callable'; got {workload!r}.")
    out = Path(out)
    per_node = world_size // nodes
    rendezvous = "" if nodes == 1 else f" --nnodes {nodes} --node-rank $NODE_RANK --rdzv-endpoint $MASTER_ADDR:29500"
    standalone = " --standalone" if nodes == 1 else ""
    torchrun = f"torchrun{standalone} --nproc-per-node {per_node}{rendezvous} {out / 'train.py'}"
    precision = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[config.precision]
    accelerate = "\n".join([
        "# accelerate launch --config_file accelerate_config.yaml train.py",
        f"# sharding is the script's TrainConfig(shard={config.shard!r}): Accelerate only starts the ranks",
        "compute_environment: LOCAL_MACHINE",
        f"distributed_type: {'MULTI_GPU' if device.startswith('cuda') else 'MULTI_CPU'}",
        f"num_machines: {nodes}",
        f"num_processes: {world_size}",
        "machine_rank: 0",
        f"mixed_precision: '{precision}'",
        f"use_cpu: {str(not device.startswith('cuda')).lower()}",
        "main_training_function: main",
        "",
    ])  # fmt: skip
    paths = {"script": out / "train.py", "torchrun": out / "launch.sh", "accelerate": out / "accelerate_config.yaml"}
    atomic_write_text(paths["script"], _SCRIPT.format(world=world_size, torchrun=torchrun, workload=workload))
    atomic_write_text(paths["torchrun"], f"#!/bin/sh\n# every node runs this line\n{torchrun}\n")
    paths["torchrun"].chmod(0o755)
    atomic_write_text(paths["accelerate"], accelerate)
    return paths
