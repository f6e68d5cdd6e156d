"""Knowledge distillation through the training engine: a student learns the teacher's outputs.

Classifiers (``loss="kl"``): Hinton et al.'s soft targets, ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T))
+ (1 - alpha) * CE(s, y)``; without labels the hard term is dropped. Embedding models (``loss="cosine"`` or
``"mse"``): the student's output is pulled towards the teacher's vector. Teacher outputs are computed once,
in inference mode, before training; the student trains with ``Trainer`` so precision, micro-batching, early
stopping and the time budget all apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tightfit.errors import bad_param
from tightfit.params import Interval, check

__all__ = ["LOSSES", "distill", "distillation_loss"]

LOSSES = ("kl", "cosine", "mse")


def distillation_loss(loss: str = "kl", temperature: float = 2.0, alpha: float = 0.5):
    """The loss ``(student_output, (teacher_output, labels or None)) -> scalar`` used by :func:`distill`."""
    if loss not in LOSSES:
        raise bad_param("loss", "distill", LOSSES, loss)
    check(
        "distill", temperature=(temperature, Interval(float, 0, closed="right")), alpha=(alpha, Interval(float, 0, 1))
    )

    def compute(student: torch.Tensor, target: Any) -> torch.Tensor:
        teacher, labels = target
        student, teacher = student.float(), teacher.float()
        if loss == "cosine":
            return (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()
        if loss == "mse":
            return F.mse_loss(student, teacher)
        soft = F.kl_div(
            F.log_softmax(student / temperature, dim=-1), F.log_softmax(teacher / temperature, dim=-1),
            reduction="batchmean", log_target=True,
        ) * temperature**2  # fmt: skip
        if labels is None or alpha == 1:
            return soft
        return alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)

    return compute


class _TeacherTargets(torch.utils.data.Dataset):
    """Items ``(*inputs, (teacher_output, label))``: the engine's ``(inputs..., target)`` batch shape."""

    def __init__(self, inputs: Sequence[torch.Tensor], teacher: torch.Tensor, labels: torch.Tensor | None) -> None:
        self.inputs, self.teacher, self.labels = inputs, teacher, labels

    def __len__(self) -> int:
        return len(self.teacher)

    def __getitem__(self, i: int):
        label = self.labels[i] if self.labels is not None else torch.tensor(-1)
        return (*(x[i] for x in self.inputs), (self.teacher[i], label))


def _teacher_outputs(teacher: nn.Module, inputs: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
    teacher = teacher.eval()
    rows = len(inputs[0])
    with torch.inference_mode():
        return torch.cat([teacher(*(x[i : i + batch] for x in inputs)) for i in range(0, rows, batch)]).float()


def distill(
    teacher: nn.Module,
    student: nn.Module,
    data: Sequence[torch.Tensor],
    labels: torch.Tensor | None = None,
    loss: str = "kl",
    temperature: float = 2.0,
    alpha: float = 0.5,
    val_data: Sequence[torch.Tensor] | None = None,
    config: Any = None,
    budget: Any = None,
):
    """Train ``student`` (in place) to reproduce ``teacher`` on ``data`` (a tuple of input tensors).

    Parameters
    ----------
    labels : tensor, default=None
        Hard labels for the ``(1 - alpha)`` cross-entropy term of ``loss="kl"``.
    loss : {"kl", "cosine", "mse"}
        ``kl`` for logits; ``cosine``/``mse`` for embeddings.
    val_data : tuple of tensors, default=None
        Held-out inputs: the teacher labels them too, and early stopping (if configured) watches them.
    config : TrainConfig, default=None
        The engine settings (``TrainConfig(epochs=5, lr=1e-3)`` style); default: 5 epochs, micro-batch 32.
    """
    from tightfit.train import TrainConfig, Trainer

    compute = distillation_loss(loss, temperature, alpha)
    if not isinstance(data, (tuple, list)) or not data or not all(torch.is_tensor(x) for x in data):
        raise bad_param("data", "distill", "a tuple of input tensors (rows first)", type(data).__name__)
    if loss != "kl" and labels is not None:
        raise bad_param("labels", "distill", f"None with loss={loss!r} (labels feed the KL loss's hard term)", "tensor")
    if labels is not None and len(labels) != len(data[0]):
        raise bad_param("labels", "distill", f"{len(data[0])} labels (one per row of data)", len(labels))
    config = config or TrainConfig(epochs=5, micro_batch=32, verbose=False)
    batch = max(config.micro_batch, 1)
    train = _TeacherTargets(tuple(data), _teacher_outputs(teacher, data, batch), labels)
    val = None
    if val_data is not None:
        val = _TeacherTargets(tuple(val_data), _teacher_outputs(teacher, val_data, batch), None)

    def loss_fn(output: torch.Tensor, target: Any) -> torch.Tensor:
        teacher_out, label = target  # label -1: a row without one (val_data, or no labels at all)
        return compute(output, (teacher_out, None if bool((label < 0).any()) else label))

    return Trainer(student, loss_fn, config).fit(train, val, budget=budget)
