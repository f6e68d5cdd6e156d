"""track_peak counts live tensor storage bytes exactly; the arithmetic is written out in each test."""

import torch
from torch import nn

from tightfit.measure import track_peak
from tightfit.measure.tracker import TensorTracker

F32 = 4


def test_known_tensors_exact_bytes():
    def make():
        a = torch.ones(1000, dtype=torch.float32)  # 4000 B
        b = torch.ones(250, dtype=torch.float64)  # 2000 B, live together with a
        del a
        c = torch.ones(100, dtype=torch.int8)  # 100 B; a is gone
        return b, c

    report = track_peak(make)
    assert report.peak == 4000 + 2000
    assert report.end == 2000 + 100


def test_one_pass_gives_the_exact_and_the_block_rounded_peak():
    def make():
        a = torch.ones(100)  # 400 B exact, one 512-byte block
        b = torch.ones(200)  # 800 B, two blocks; the exact peak (1200 B) is here
        del a
        c = torch.ones(10)  # 40 B, one block: 1,024 + 512 rounded < the 1,536 of a and b
        return b, c

    tracker = TensorTracker(round_to=512)
    with tracker:
        make()
    assert (tracker.peak, tracker.rounded_peak) == (400 + 800, 512 + 1024)
    assert sum(tracker.breakdown().values()) == 1200  # exact bytes at the exact peak
    assert track_peak(make, round_to=512).peak == 1536


def test_views_share_one_storage():
    def views():
        base = torch.zeros(1000)
        return base.view(10, 100), base[::2], base.t() if base.dim() == 2 else base

    assert track_peak(views).peak == 1000 * F32


def test_preexisting_tensors_count_only_when_touched():
    touched = torch.ones(1000)  # 4000 B, read by the call
    untouched = torch.ones(10_000)  # never used by the call: not part of its footprint
    report = track_peak(lambda: touched * 2)
    assert report.peak == 4000 + 4000
    assert untouched.numel() == 10_000


def test_linear_forward_backward_analytic_peak():
    torch.manual_seed(0)
    batch, n_in, n_out = 16, 64, 32
    layer = nn.Linear(n_in, n_out, bias=False)
    x = torch.randn(batch, n_in)
    weight, inputs = n_out * n_in * F32, batch * n_in * F32  # 8192, 4096 (both pre-existing)
    output = batch * n_out * F32  # 2048: y = x @ W.T, freed once sum() has consumed it (sum saves no input)
    scalar = F32  # the loss, and the ones_like seed of backward
    grad_weight = n_out * n_in * F32  # 8192: dL/dW = ones(B, out).T @ x, stored as W.grad
    forward_peak = weight + inputs + output + scalar
    backward_peak = weight + inputs + scalar + scalar + grad_weight
    report = track_peak(lambda: layer(x).sum().backward())
    assert report.peak == max(forward_peak, backward_peak) == 20488
    assert report.breakdown["params"] == weight
    assert report.breakdown["grads"] == grad_weight
    assert sum(report.breakdown.values()) == report.peak


def test_deterministic_and_categorised_training_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(8, 32), torch.randint(0, 4, (8,))
    param_bytes = sum(p.numel() * F32 for p in model.parameters())

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    first = track_peak(step)
    second = track_peak(step)
    third = track_peak(step)
    assert second.peak == third.peak  # same code, same state: the same bytes
    assert second.breakdown == third.breakdown
    # the peak is inside Adam's step: weights, their grads, exp_avg + exp_avg_sq, plus step temporaries
    assert second.breakdown["params"] == param_bytes
    assert second.breakdown["grads"] == param_bytes
    assert second.breakdown["optimizer"] >= 2 * param_bytes
    assert sum(second.breakdown.values()) == second.peak
    assert first.peak == second.peak  # Adam's state is created in the first step: same live total
    assert first.result > 0


def test_fake_tensor_mode_is_counted_without_real_memory():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        report = track_peak(lambda: torch.empty(10_000, 10_000) + 1)
    assert report.peak == 2 * 10_000 * 10_000 * F32
