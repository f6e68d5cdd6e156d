"""The embedded tabular foundation model on a bundled table, against Random Forest, measured side by side.

``TinyTFMClassifier`` ships inside tightfit (pretrained on 2 CPU cores, under 5 MB): it predicts a table in
one forward pass with the labelled rows as context, offline. Breast cancer (scikit-learn's bundled copy of
OpenML wdbc), 5 stratified 50/50 splits; ROC AUC and fit+predict seconds, median over the splits.
"""

from __future__ import annotations

import json
import statistics
import time

from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from tightfit.tabular import TinyTFMClassifier
from tightfit.tabular.classifier import shipped_weights


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    models = {
        "TinyTFM (1 member)": lambda: TinyTFMClassifier(),
        "TinyTFM (8 members)": lambda: TinyTFMClassifier(n_estimators=8),
        "Random Forest (500 trees)": lambda: RandomForestClassifier(n_estimators=500, n_jobs=2, random_state=0),
    }
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for train, test in StratifiedShuffleSplit(n_splits=5, test_size=0.5, random_state=0).split(X, y):
        for name, make in models.items():
            started = time.perf_counter()
            proba = make().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
            scores[name].append((roc_auc_score(y[test], proba), time.perf_counter() - started))
    card = json.loads(shipped_weights().with_suffix(".json").read_text())
    table = Table(title="breast cancer, 5 stratified 50/50 splits (median)")
    for column in ("model", "ROC AUC", "fit+predict"):
        table.add_column(column, justify="right")
    for name, values in scores.items():
        auc = statistics.median(v[0] for v in values)
        seconds = statistics.median(v[1] for v in values)
        table.add_row(name, f"{auc:.4f}", f"{seconds:.2f} s")
    console = Console()
    console.print(table)
    console.print(
        f"TinyTFM: {card['parameters']:,} parameters, {shipped_weights().stat().st_size / 1e6:.1f} MB, "
        f"pretrained {card['pretrain_minutes']:.0f} min on {card['machine']['cores_logical']} CPU cores "
        f"({card['tables_seen']:,} synthetic tables)"
    )


if __name__ == "__main__":
    main()
