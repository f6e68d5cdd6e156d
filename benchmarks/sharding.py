"""Per-rank model-state bytes of DDP and FSDP at 2/4/8 ranks, beside DeepSpeed's ZeRO estimators' arithmetic.

    python benchmarks/sharding.py

No devices are needed: the figures are arithmetic (:mod:`tightfit.plan.sharding`). DeepSpeed's recipe (fp16
weights, fp32 master weights and Adam) is how its estimators count; tightfit's engine keeps fp32 weights and
gradients with AdamW, and DDP's reducer adds gradient-sized buffers, so its own rows are larger.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "plan"))

from zoo import ZOO

from tightfit.plan.sharding import DEEPSPEED_RECIPE, engine_recipe, largest_unit_params, sharded_states
from tightfit.train import TrainConfig


def main() -> None:
    print("| model | parameters | ranks | ZeRO-3 (DeepSpeed) | FSDP, DeepSpeed recipe | ZeRO-2 on 1 GPU | "
          "DDP, DeepSpeed recipe | FSDP, tightfit engine | DDP, tightfit engine |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arch in ("transformer", "cnn", "tabular_transformer"):
        model = ZOO[arch](4)[0]
        total = sum({p.data_ptr(): p.numel() for p in model.parameters()}.values())
        layer = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
        unit = largest_unit_params(model)
        for world in (2, 4, 8):
            zero3 = 4 * layer + int(18 * total / world)
            zero2_single = 4 * total + int(16 * total / 1)
            ours = {
                shard: sharded_states(total, total, layer, world, shard, DEEPSPEED_RECIPE).total
                for shard in ("fsdp", "ddp")
            }
            engine = {
                shard: sharded_states(total, total, unit, world, shard, engine_recipe(TrainConfig())).total
                for shard in ("fsdp", "ddp")
            }
            print(f"| {arch} | {total:,} | {world} | {zero3:,} | {ours['fsdp']:,} ({ours['fsdp'] / zero3 - 1:+.2%}) | "
                  f"{zero2_single:,} | {ours['ddp']:,} ({ours['ddp'] / zero2_single - 1:+.2%}) | {engine['fsdp']:,} | "
                  f"{engine['ddp']:,} |")  # fmt: skip


if __name__ == "__main__":
    main()
