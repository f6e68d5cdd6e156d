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


def test_quantized_recurrent_layers_count_their_packed_int8_weights():
    from tightfit.compress import dynamic_int8

    model = nn.Sequential(nn.LSTM(64, 128, num_layers=2)).eval()  # 4 gates x 128 x (64 + 128) + 4 x 128 x 256
    quantized, _ = dynamic_int8(model)
    weights = 4 * 128 * (64 + 128) + 4 * 128 * 256  # one byte each
    assert weights <= size_of(quantized) <= weights + 4 * 4 * (4 * 128)  # plus at most 4 fp32 copies of the biases
    assert size_of(model) > 3.5 * weights
