"""compress() on a tabular MLP trained by tightfit's engine, with held-out accuracy as the quality measure.

python examples/compress_tabular.py
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from tightfit import Budget
from tightfit.compress import compress
from tightfit.train import TrainConfig, Trainer

X, y = load_digits(return_X_y=True)
X = torch.tensor(X / 16, dtype=torch.float32)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
train, test = order[:1300], order[1300:]
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
config = TrainConfig(epochs=10, micro_batch=64, lr=3e-3, verbose=False)
Trainer(model, None, config).fit((X[train], torch.tensor(y[train])))


def accuracy(variant) -> float:
    """Held-out accuracy; ONNX variants return numpy arrays, torch ones tensors."""
    return float((np.asarray(variant(X[test])).argmax(1) == y[test]).mean())


report = compress(
    model.eval(), X[train][:64], eval_fn=accuracy, budget=Budget(size="150KB"), max_quality_drop=0.005,
    techniques=("dynamic_int8", "onnx", "onnx_int8", "prune", "prune+onnx_int8"), train_data=X[train],
)  # fmt: skip
print(report.table.drop(columns=["reason"]).round(4).to_string(index=False))
if report.best is None:
    print("no variant keeps accuracy within 0.5 points and fits 150 KB")
else:
    print(f"chosen: {report.best.name}; saved {report.best.save('out/digits_mlp')}")
