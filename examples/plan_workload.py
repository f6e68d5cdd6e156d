"""A workload for ``tightfit plan --model examples.plan_workload:make``: a residual MLP on digits."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn


def make():
    torch.manual_seed(0)
    X, y = load_digits(return_X_y=True)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 10))
    return model, ((X / 16.0).astype(np.float32), y)
