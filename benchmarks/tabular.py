"""TabularPipeline: TinyTFM zero-shot vs fully fine-tuned vs LoRA, against LightGBM and Random Forest.

Data: the offline suite of ``benchmarks/tabular_tfm.py`` (10 real tables). Protocol: ``--repeats`` stratified
70/30 splits per table (seeds 0, 1, ...), training part capped at 1,000 rows; every entry runs through
:class:`~tightfit.tabular.TabularLeaderboard`, so each is fitted in its own child process and its peak memory
is that child's high-water mark. Fine-tuning settings (both strategies): support 128, query 64, 4 episodes
per step, 5 steps per epoch, 4 epochs, early stopping on held-out episodes; LR 1e-4 full, 1e-3 LoRA r8.
Reported per table: median ROC AUC, log loss, fit seconds and peak RSS over the splits, and the tensor peak
of one fine-tuning step (parameters, gradients, optimizer state, activations; ``track_peak``) for full vs
LoRA, as a ratio. 2 threads.

    python benchmarks/tabular.py [--repeats 3] [--datasets wine,iris]
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from tabular_tfm import THREADS, TRAIN_CAP, parse_args

from tightfit.measure import track_peak
from tightfit.tabular import TabularLeaderboard, TuningParams
from tightfit.tabular.classifier import shipped_weights
from tightfit.tabular.finetune import episode_data
from tightfit.tabular.models.tiny import load_tiny_tfm, query_loss
from tightfit.tabular.preprocess import TableProcessor
from tightfit.train import Trainer

FINE_TUNE = {
    "support_size": 128, "query_size": 64, "batch_size": 4, "steps_per_epoch": 5, "epochs": 4, "show_progress": False,
}  # fmt: skip
ENTRIES = {
    "TinyTFM zero-shot": ("TinyTFM", "inference", {}),
    "TinyTFM full FT": ("TinyTFM", "base-ft", {"tuning_params": FINE_TUNE}),
    "TinyTFM LoRA": ("TinyTFM", "peft", {"tuning_params": FINE_TUNE | {"peft_config": {"r": 8, "lora_alpha": 16}}}),
    "LightGBM": ("LightGBM", "inference", {"model_params": {"n_jobs": THREADS}}),
    "RandomForest": ("RandomForest", "inference", {"model_params": {"n_estimators": 500, "n_jobs": THREADS}}),
}


def split(X: pd.DataFrame, y: np.ndarray, seed: int):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    if len(y_train) > TRAIN_CAP:
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=TRAIN_CAP, stratify=y_train, random_state=seed
        )
    return X_train, X_test, y_train, y_test


def step_tensor_peaks(X_train: pd.DataFrame, y_train: np.ndarray) -> dict[str, int]:
    """Tensor peak of two fine-tuning steps, full vs LoRA, on the same episodes (exact, via track_peak)."""
    matrix = TableProcessor().fit(X_train).transform(X_train)
    codes = np.unique(y_train, return_inverse=True)[1]
    params = TuningParams(**FINE_TUNE)
    train, _ = episode_data(matrix, codes, params, max_classes=10)
    peaks = {}
    for name, lora in (("full", False), ("lora", True)):
        config = dataclasses.replace(params.train_config(lora=lora), max_steps=2, early_stopping=None)
        model = load_tiny_tfm(shipped_weights())
        peaks[name] = track_peak(lambda m=model, c=config: Trainer(m, query_loss, c).fit(train)).peak
    return peaks


def main() -> None:
    args, chosen = parse_args()
    rows, memory = [], []
    for name, load in chosen.items():
        X, y = load()
        print(f"== {name}: {X.shape[0]} rows, {X.shape[1]} columns, {len(np.unique(y))} classes", flush=True)
        for seed in range(args.repeats):
            data = split(X, y, seed)
            board = TabularLeaderboard(*data)
            for label, (model, strategy, kwargs) in ENTRIES.items():
                board.add_model(model, strategy, name=label, **kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = board.run(verbose=False)
            for row in table.to_dict(orient="records"):
                if row["verdict"] == "failed":
                    print(f"   {row['model']}: {row['reason']}")
                rows.append({"dataset": name, "seed": seed} | row)
        peaks = step_tensor_peaks(data[0], data[2])
        memory.append({"dataset": name, **peaks, "lora/full": peaks["lora"] / peaks["full"]})
        print(f"   step tensor peak: full {peaks['full'] / 1e6:.1f} MB, LoRA {peaks['lora'] / 1e6:.1f} MB", flush=True)
    frame = pd.DataFrame(rows)
    columns = ["roc_auc_score", "log_loss", "fit_s", "peak_bytes"]
    table = frame.groupby(["dataset", "model"])[columns].median()
    print(table.round(4).to_string())
    auc = table["roc_auc_score"].unstack()
    loss = table["log_loss"].unstack()
    print("\nmean over datasets:\n" + table.groupby("model").mean().round(4).to_string())
    for tuned in ("TinyTFM full FT", "TinyTFM LoRA"):
        better = (loss[tuned] < loss["TinyTFM zero-shot"]).sum()
        print(f"{tuned}: log loss below zero-shot on {better}/{len(loss)} tables; ROC AUC mean "
              f"{auc[tuned].mean():.4f} vs zero-shot {auc['TinyTFM zero-shot'].mean():.4f}")  # fmt: skip
    print("\n" + pd.DataFrame(memory).round(3).to_string(index=False))
    print(f"threads {THREADS}, repeats {args.repeats}")
    path = write(
        "tabular",
        {
            "machine": machine(),
            "repeats": args.repeats,
            "train_cap": TRAIN_CAP,
            "fine_tune": FINE_TUNE,
            "per_dataset": table.reset_index().to_dict(orient="records"),
            "step_tensor_peak": memory,
            "runs": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
