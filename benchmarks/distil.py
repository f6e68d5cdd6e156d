"""Distil the shipped TinyTFM into fast students on the 10 tables of `tabular_tfm.py`, side by side.

Per table and fold (stratified 3-fold, seed 0; training part capped at 1,000 rows): the teacher is
``TabularPipeline("TinyTFM")``; each student is ``distil(teacher, X_train, student=...)`` (3x synthetic rows).
Reported: held-out ROC AUC (one-vs-rest macro for multiclass) of teacher and student, and the model's one-row
predict p50 (``tightfit.measure.latency``, preprocessing excluded: both share it) with its ratio; medians over
folds, then the mean AUC ratio over tables. torch and LightGBM on 2 threads.

    python benchmarks/distil.py [--datasets breast_cancer,wine]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from tabular_tfm import TRAIN_CAP, datasets

from tightfit.measure import latency
from tightfit.tabular import TabularPipeline, distil

STUDENTS = ("LightGBM", "MLP")


def _auc(y, proba, classes) -> float:
    if proba.shape[1] == 2:
        return roc_auc_score(y == classes[1], proba[:, 1])
    return roc_auc_score(y, proba, multi_class="ovr", labels=classes)


def run_table(X, y) -> dict:
    y = np.asarray(y).astype(str)
    found: dict[str, list] = {}
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
        if len(train) > TRAIN_CAP:
            train, _ = train_test_split(train, train_size=TRAIN_CAP, stratify=y[train], random_state=0)
        X_train, X_test = X.iloc[train], X.iloc[test]
        teacher = TabularPipeline().fit(X_train, y[train])
        row = teacher.processor_.transform(X_test.iloc[:1])
        found.setdefault("teacher_auc", []).append(_auc(y[test], teacher.predict_proba(X_test), teacher.classes_))
        found.setdefault("teacher_s", []).append(latency(teacher.model_.predict_proba, row).p50_s)
        for kind in STUDENTS:
            student = distil(teacher, X_train, student=kind)
            found.setdefault(f"{kind}_auc", []).append(_auc(y[test], student.predict_proba(X_test), student.classes_))
            found.setdefault(f"{kind}_s", []).append(latency(student.model_.predict_proba, row).p50_s)
    return {k: statistics.median(v) for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", help="comma-separated subset")
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    tables = datasets()
    names = args.datasets.split(",") if args.datasets else list(tables)
    rows = {}
    for name in names:
        X, y = tables[name]()
        rows[name] = run_table(X, y)
        r = rows[name]
        print(
            f"{name}: teacher {r['teacher_auc']:.4f} | "
            + " | ".join(f"{k} {r[f'{k}_auc']:.4f} ({r['teacher_s'] / r[f'{k}_s']:.0f}x faster)" for k in STUDENTS),
            flush=True,
        )
    print(
        "\n| table | TinyTFM AUC | TinyTFM one-row | "
        + " | ".join(f"{k} AUC | {k} one-row | {k} speed-up" for k in STUDENTS)
        + " |"
    )
    print("| --- " * (3 + 3 * len(STUDENTS)) + "|")
    for name, r in rows.items():
        cells = [f"{r['teacher_auc']:.4f}", f"{r['teacher_s'] * 1e3:.1f} ms"]
        for k in STUDENTS:
            cells += [f"{r[f'{k}_auc']:.4f}", f"{r[f'{k}_s'] * 1e3:.2f} ms", f"{r['teacher_s'] / r[f'{k}_s']:.0f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    summary = {}
    for k in STUDENTS:
        kept = statistics.fmean(r[f"{k}_auc"] / r["teacher_auc"] for r in rows.values())
        speed = statistics.median(r["teacher_s"] / r[f"{k}_s"] for r in rows.values())
        summary[k] = {"mean_auc_kept": kept, "median_speedup": speed}
        print(f"{k}: keeps {kept:.1%} of TinyTFM's ROC AUC on average, median one-row speed-up {speed:.0f}x")
    write("distil", {"machine": machine(), "tables": rows, "summary": summary, "threads": 2})


if __name__ == "__main__":
    main()
