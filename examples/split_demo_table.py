"""Write the embedded demo table (scikit-learn's breast_cancer) as train.csv and held_out.csv, 80/20, so that
`make demo` can fit on one file and predict the other: ``python examples/split_demo_table.py DIR``."""

import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

from tightfit.tabular.autofit import default_table

out = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-data")
out.mkdir(parents=True, exist_ok=True)
frame = default_table()
train, held_out = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["diagnosis"])
train.to_csv(out / "train.csv", index=False)
held_out.to_csv(out / "held_out.csv", index=False)
print(f"wrote {out}/train.csv ({len(train)} rows) and {out}/held_out.csv ({len(held_out)} rows)")
