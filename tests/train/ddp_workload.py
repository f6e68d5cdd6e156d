"""A workload for `tightfit plan --model ddp_workload:make` (importable from the ranks through PYTHONPATH)."""

import torch
from sklearn.datasets import load_digits
from torch import nn


def make():
    """A small MLP and 320 rows of digits."""
    X, y = load_digits(return_X_y=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return model, (torch.tensor(X[:320] / 16.0, dtype=torch.float32), torch.tensor(y[:320]))
