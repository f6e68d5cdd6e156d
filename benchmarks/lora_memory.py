"""Does LoRA cut fine-tuning memory? Exact tensor peak of two fine-tuning steps, full vs LoRA (r=8), for the
shipped TinyTFM (0.36M parameters) and for TabICL's published architecture (27.6M parameters, random
weights: the memory does not depend on the values), on the same breast_cancer episodes (support 128,
query 64, 2 episodes per step). Counted by ``track_peak`` (parameters, gradients, optimizer state,
activations), so the figures are exact bytes and do not depend on the machine's load.

    python benchmarks/lora_memory.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.measure import track_peak
from tightfit.tabular import TuningParams
from tightfit.tabular.classifier import shipped_weights
from tightfit.tabular.finetune import episode_data
from tightfit.tabular.models.tiny import load_tiny_tfm, query_loss
from tightfit.train import Trainer

PARAMS = TuningParams(support_size=128, query_size=64, batch_size=2, steps_per_epoch=2, epochs=1, show_progress=False)


def models() -> dict:
    from tabicl._model.tabicl import TabICL

    return {"TinyTFM (shipped)": lambda: load_tiny_tfm(shipped_weights()), "TabICL architecture": TabICL}


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    train, _ = episode_data(X.astype(np.float32), y, PARAMS, max_classes=10)
    rows = []
    for name, make in models().items():
        row = {"model": name}
        for label, lora in (("full", False), ("lora", True)):
            model = make()
            row["parameters"] = sum(p.numel() for p in model.parameters())
            config = dataclasses.replace(PARAMS.train_config(lora=lora), max_steps=2, early_stopping=None)
            report = track_peak(lambda m=model, c=config: Trainer(m, query_loss, c).fit(train))
            row[f"{label}_peak"] = report.peak
            row[f"{label}_breakdown"] = report.breakdown
        row["lora/full"] = row["lora_peak"] / row["full_peak"]
        rows.append(row)
        print(
            f"{name}: {row['parameters']:,} parameters; step tensor peak full {row['full_peak'] / 1e6:.1f} MB, "
            f"LoRA {row['lora_peak'] / 1e6:.1f} MB, ratio {row['lora/full']:.3f}",
            flush=True,
        )
    print(f"wrote {write('lora_memory', {'machine': machine(), 'rows': rows})}")


if __name__ == "__main__":
    main()
