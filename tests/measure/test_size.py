"""size_of: parameter and buffer bytes (tied weights once), or file bytes."""

import torch
from torch import nn

from tightfit.measure import size_of


def test_module_counts_params_and_buffers():
    model = nn.Sequential(nn.Linear(10, 20), nn.BatchNorm1d(20))
    linear = (10 * 20 + 20) * 4
    batchnorm = (20 + 20) * 4 + (20 + 20) * 4 + 8  # weight, bias; running mean, var; num_batches_tracked (int64)
    assert size_of(model) == linear + batchnorm


def test_tied_weights_count_once():
    embed, head = nn.Embedding(100, 16), nn.Linear(16, 100, bias=False)
    head.weight = embed.weight
    assert size_of(nn.ModuleList([embed, head])) == 100 * 16 * 4


def test_file_and_folder(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Linear(10, 20).state_dict(), path)
    assert size_of(path) == path.stat().st_size > 880
    (tmp_path / "extra.bin").write_bytes(b"x" * 100)
    assert size_of(tmp_path) == path.stat().st_size + 100
