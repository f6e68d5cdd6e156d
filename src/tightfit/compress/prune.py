"""Pruning: magnitude (unstructured, zeros in place) and structured (whole neurons removed, layers shrink).

Unstructured pruning zeroes the smallest weights of each Linear layer: it buys nothing in dense kernels or in
a dense file, so its reported size is the count of non-zero weights only as information. Structured pruning
finds pairs of Linear layers (A, B) where B reads A's outputs feature by feature (through element-wise
activations only) and removes A's output neurons with the smallest norm together with B's matching input
columns, so both layers really get smaller. Pairs are found by measurement, not by module names: zeroing one
neuron of A must change exactly that column of B's input on a sample batch. A shrink that breaks the forward
pass (a reshape that needs the old width, a residual that reads A's output) is undone and listed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tightfit.errors import TechniqueNotApplicable, bad_param
from tightfit.params import Interval, check

__all__ = ["magnitude_prune", "prunable_pairs", "structured_prune"]


def check_sparsity(sparsity: float, owner: str) -> None:
    check(owner, sparsity=(sparsity, Interval(float, 0, 1, closed="neither", what="a fraction in (0, 1)")))


def magnitude_prune(model: nn.Module, sparsity: float) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest |w| in each Linear weight set to zero."""
    check_sparsity(sparsity, "magnitude_prune")
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model).eval()
    layers = [m for m in pruned.modules() if isinstance(m, nn.Linear)]
    for layer in layers:
        prune.l1_unstructured(layer, "weight", amount=sparsity)
        prune.remove(layer, "weight")  # bake the mask in: a plain weight with zeros
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    total = sum(m.weight.numel() for m in layers)
    return pruned, {"layers": len(layers), "zero_fraction": zeros / max(total, 1)}


def _record_inputs(model: nn.Module, layers: dict[str, nn.Linear], inputs: Sequence[Any]) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        layer.register_forward_pre_hook(lambda _m, args, name=name: seen.setdefault(name, args[0].detach().clone()))
        for name, layer in layers.items()
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def prunable_pairs(model: nn.Module, inputs: Sequence[Any]) -> list[tuple[str, str]]:
    """(A, B) Linear pairs where B's input depends on A's outputs column by column, found by perturbation."""
    model = model.eval()
    layers = {n: m for n, m in model.named_modules() if type(m) is nn.Linear}
    base = _record_inputs(model, layers, inputs)
    order = list(base)  # the order the layers ran in
    pairs, used = [], set()
    for i, a_name in enumerate(order):
        a = layers[a_name]
        width = a.out_features
        if width < 4:
            continue
        generator = torch.Generator().manual_seed(i)
        probe = int(torch.randint(0, width, (1,), generator=generator))
        saved = a.weight.data[probe].clone(), None if a.bias is None else a.bias.data[probe].clone()
        scale = float(a.weight.data.std()) or 1.0  # a shift of the neuron's input weights and bias: it moves
        a.weight.data[probe] += scale * torch.randn(a.in_features, generator=generator)  # past a ReLU too
        if a.bias is not None:
            a.bias.data[probe] += 1.0
        try:
            changed = _record_inputs(model, layers, inputs)
        finally:
            a.weight.data[probe] = saved[0]
            if a.bias is not None:
                a.bias.data[probe] = saved[1]
        for b_name in order[i + 1 :]:
            b = layers[b_name]
            if b_name in used or b.in_features != width or b_name not in changed:
                continue
            diff = (changed[b_name] - base[b_name]).abs().reshape(-1, width).amax(dim=0)
            if diff[probe] > 0 and torch.count_nonzero(diff) == 1:
                pairs.append((a_name, b_name))
                used.add(b_name)
                break
    return pairs


def _shrink(a: nn.Linear, b: nn.Linear, keep: torch.Tensor) -> tuple[nn.Linear, nn.Linear]:
    new_a = nn.Linear(a.in_features, len(keep), bias=a.bias is not None, dtype=a.weight.dtype)
    new_b = nn.Linear(len(keep), b.out_features, bias=b.bias is not None, dtype=b.weight.dtype)
    with torch.no_grad():
        new_a.weight.copy_(a.weight[keep])
        if a.bias is not None:
            new_a.bias.copy_(a.bias[keep])
        new_b.weight.copy_(b.weight[:, keep])
        if b.bias is not None:
            new_b.bias.copy_(b.bias)
    return new_a, new_b


def structured_prune(
    model: nn.Module, inputs: Sequence[Any], sparsity: float, norm: int = 2
) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of ``model`` with ``sparsity`` of the neurons of every prunable pair removed (smallest norm first).

    A neuron's score is ``||A[j, :]||_p * ||B[:, j]||_p`` (``norm`` p = 1 or 2): its weight in and out.
    Returns the model and ``{"shrunk": {A: (old, new)}, "skipped": {A: reason}}``.
    """
    check_sparsity(sparsity, "structured_prune")
    if norm not in (1, 2):
        raise bad_param("norm", "structured_prune", "1 (L1) or 2 (L2)", norm)
    pruned = copy.deepcopy(model).eval()
    inputs = tuple(inputs)
    with torch.no_grad():
        reference = pruned(*inputs)
    shrunk, skipped = {}, {}
    for a_name, b_name in prunable_pairs(pruned, inputs):
        a, b = pruned.get_submodule(a_name), pruned.get_submodule(b_name)
        score = a.weight.norm(p=norm, dim=1) * b.weight.norm(p=norm, dim=0)
        n_keep = max(1, round(a.out_features * (1 - sparsity)))
        keep = torch.sort(torch.topk(score, n_keep).indices).values
        new_a, new_b = _shrink(a, b, keep)
        _replace(pruned, a_name, new_a)
        _replace(pruned, b_name, new_b)
        try:
            with torch.no_grad():
                output = pruned(*inputs)
            _same_structure(output, reference)
            shrunk[a_name] = (a.out_features, n_keep)
        except Exception as exc:  # the shrink broke the forward pass: undo it and say why
            _replace(pruned, a_name, a)
            _replace(pruned, b_name, b)
            skipped[a_name] = f"shrinking {a_name} -> {b_name} breaks the forward pass: {type(exc).__name__}: {exc}"[
                :300
            ]
    return pruned, {"shrunk": shrunk, "skipped": skipped, "pairs_found": len(shrunk) + len(skipped)}


def _same_structure(output: Any, reference: Any) -> None:
    if torch.is_tensor(reference):
        if not torch.is_tensor(output) or output.shape != reference.shape:
            raise TechniqueNotApplicable(
                f"output shape changed: {tuple(getattr(output, 'shape', ()))} != {tuple(reference.shape)}"
            )
    elif isinstance(reference, (tuple, list)):
        for o, r in zip(output, reference, strict=True):
            _same_structure(o, r)


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)
