"""Engine benchmark: what each memory technique buys and costs, measured side by side in one run.

A 4-layer transformer classifier (8x8 digits read as 8 tokens of 8 pixels), pretrained on digits, is
fine-tuned on mirrored digits (a domain shift) with: fp32 (the baseline), bf16 autocast, activation
checkpointing, LoRA (r=8, head trained), and all three combined. For each: the exact tracked-tensor peak
of a steady-state training step (optimizer state allocated), the process RSS peak of the whole fine-tune
in a fresh child process, the median step time and the held-out accuracy — each as a ratio to the fp32
baseline, median of 3 repeats.
Then the engine's step-time overhead against a hand-written PyTorch loop doing the same work.

    python benchmarks/engine.py [--repeats 3] [--epochs 6]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, write

from tightfit.guard import run_limited
from tightfit.measure import track_peak
from tightfit.train import LoraSpec, TrainConfig, Trainer


class DigitTransformer(nn.Module):
    """Rows of the 8x8 image as 8 tokens; 4 pre-norm encoder layers; mean-pooled linear head."""

    def __init__(self, d_model: int = 256, n_layers: int = 4, n_heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(8, d_model)
        self.position = nn.Parameter(torch.zeros(1, 8, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 10)

    def forward(self, x):
        tokens = self.embed(x.view(-1, 8, 8)) + self.position
        return self.head(self.encoder(tokens).mean(dim=1))


def data():
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = (X[order] / 16.0).astype(np.float32), y[order]
    mirrored = np.ascontiguousarray(X.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(X), 64))
    return (X[:1300], y[:1300]), (mirrored[:1300], y[:1300]), (mirrored[1300:], y[1300:])


ROWS = {
    "fp32 (baseline)": {},
    "bf16": {"precision": "bf16"},
    "checkpointing": {"checkpointing": True},
    "LoRA r=8": {"lora": LoraSpec(r=8, alpha=16, trainable_modules=("head",)), "lr": 3e-3},
    "bf16 + ckpt + LoRA": {
        "precision": "bf16",
        "checkpointing": True,
        "lora": LoraSpec(r=8, alpha=16, trainable_modules=("head",)),
        "lr": 3e-3,
    },
}


def pretrained(epochs: int) -> nn.Module:
    torch.manual_seed(0)
    model = DigitTransformer()
    (X, y), _, _ = data()
    Trainer(model, None, TrainConfig(epochs=epochs, lr=1e-3, micro_batch=64, verbose=False)).fit((X, y))
    return model


def fine_tune(base_state: dict, settings: dict, epochs: int) -> dict:
    """One fine-tune of the pretrained model; runs in a fresh child so its RSS peak is its own."""
    torch.manual_seed(0)
    model = DigitTransformer()
    model.load_state_dict(base_state)
    _, (X, y), (X_test, y_test) = data()
    cfg = TrainConfig(**{"epochs": epochs, "lr": 1e-3, "micro_batch": 64, "verbose": False, **settings})
    result = Trainer(model, None, cfg).fit((X, y))
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.tensor(X_test)).argmax(1).numpy() == y_test).mean())
    return {
        "rss_peak": result.peak_memory_bytes,
        "step_time": result.step_time_s,
        "accuracy": accuracy,
        "trainable": result.trainable_params,
    }


def step_peak(base_state: dict, settings: dict) -> int:
    torch.manual_seed(0)
    model = DigitTransformer()
    model.load_state_dict(base_state)
    _, (X, y), _ = data()
    # two steps: the second runs with the optimizer state already allocated (the steady state)
    cfg = TrainConfig(**{"max_steps": 2, "micro_batch": 64, "verbose": False, **settings})
    return track_peak(lambda: Trainer(model, None, cfg).fit((X[:128], y[:128]))).peak


def plain_loop_step_time(base_state: dict, epochs: int) -> float:
    """A hand-written loop with the engine's fp32 settings (AdamW, clip 1.0, cosine, same batches)."""
    torch.manual_seed(0)
    model = DigitTransformer()
    model.load_state_dict(base_state)
    _, (X, y), _ = data()
    X, y = torch.tensor(X), torch.tensor(y)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    steps_per_epoch = -(-len(X) // 64)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    times = []
    for epoch in range(epochs):
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(epoch))
        for start in range(0, len(X), 64):
            t0 = time.perf_counter()
            idx = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    base = pretrained(epochs=8).state_dict()
    base = {k: v.clone() for k, v in base.items()}

    raw: dict[str, dict[str, list[float]]] = {name: {} for name in ROWS}
    for repeat in range(args.repeats):
        for name, settings in ROWS.items():  # interleaved, so drift hits every row alike
            run = run_limited(fine_tune, base, settings, args.epochs, time="10min")
            run["step_peak"] = step_peak(base, settings)
            for key, value in run.items():
                raw[name].setdefault(key, []).append(value)
            print(f"repeat {repeat + 1}/{args.repeats} {name}: {run}", flush=True)

    medians = {name: {k: median(v) for k, v in values.items()} for name, values in raw.items()}
    baseline = medians["fp32 (baseline)"]
    table = []
    for name, m in medians.items():
        table.append(
            {
                "config": name,
                "step_peak_bytes": m["step_peak"],
                "step_peak_ratio": m["step_peak"] / baseline["step_peak"],
                "rss_peak_bytes": m["rss_peak"],
                "rss_peak_ratio": m["rss_peak"] / baseline["rss_peak"],
                "step_time_s": m["step_time"],
                "step_time_ratio": m["step_time"] / baseline["step_time"],
                "accuracy": m["accuracy"],
                "accuracy_delta": m["accuracy"] - baseline["accuracy"],
                "trainable_params": int(m["trainable"]),
            }
        )

    engine_times, plain_times = [], []
    for _ in range(args.repeats):  # overhead: the same fp32 work, engine vs hand-written, alternating
        plain_times.append(plain_loop_step_time(base, 2))
        cfg = TrainConfig(epochs=2, lr=1e-3, micro_batch=64, verbose=False)
        model = DigitTransformer()
        model.load_state_dict(copy.deepcopy(base))
        _, (X, y), _ = data()
        engine_times.append(Trainer(model, None, cfg).fit((X, y)).step_time_s)
    overhead = median(engine_times) / median(plain_times) - 1

    payload = {
        "machine": machine(),
        "repeats": args.repeats,
        "epochs": args.epochs,
        "rows": table,
        "raw": raw,
        "overhead": {"engine_step_s": engine_times, "plain_step_s": plain_times, "overhead_ratio": overhead},
    }
    path = write("engine", payload)
    print(f"\n{'config':22} {'step peak':>10} {'RSS peak':>9} {'step time':>10} {'accuracy':>9}")
    for row in table:
        print(
            f"{row['config']:22} {row['step_peak_ratio']:>9.2f}x {row['rss_peak_ratio']:>8.2f}x "
            f"{row['step_time_ratio']:>9.2f}x {row['accuracy']:>9.3f}"
        )
    print(f"engine overhead vs a hand-written loop: {overhead:+.1%} (median of {args.repeats}); wrote {path}")


if __name__ == "__main__":
    main()
