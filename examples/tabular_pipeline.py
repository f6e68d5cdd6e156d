"""TabTune's three lines, where every option acts: zero-shot, full fine-tuning and LoRA of the shipped TinyTFM
on bundled wine data, with held-out log loss, what trained, and a save/load round trip.

    python examples/tabular_pipeline.py
"""

import tempfile
from pathlib import Path

from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

from tightfit.tabular import TabularPipeline

X, y = load_wine(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
tuning = {"epochs": 4, "support_size": 64, "query_size": 64, "steps_per_epoch": 5, "show_progress": False}

for strategy in ("inference", "base-ft", "peft"):
    pipe = TabularPipeline(
        model_name="TinyTFM", tuning_strategy=strategy, tuning_params=tuning if strategy != "inference" else None
    )
    pipe.fit(X_train, y_train)
    scores = pipe.evaluate(X_test, y_test)
    line = (
        f"{strategy:9s} log loss {scores['log_loss']:.4f}  accuracy {scores['accuracy']:.3f}  ECE {scores['ece']:.3f}"
    )
    if pipe.finetune_ is not None:
        ft = pipe.finetune_
        line += (
            f"  | trained {ft.trainable_params:,} of {ft.total_params:,} parameters, validation loss "
            f"{ft.val_loss_zero_shot:.4f} -> {ft.val_loss_tuned:.4f} ({ft.kept} weights kept)"
        )
    print(line)

with tempfile.TemporaryDirectory() as folder:
    loaded = TabularPipeline.load(pipe.save(Path(folder) / "wine"))
    same = (loaded.predict_proba(X_test) == pipe.predict_proba(X_test)).all()
    print(f"save/load round trip gives identical probabilities: {same}")
