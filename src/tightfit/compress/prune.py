"""Pruning: magnitude (unstructured, zeros in place) and structured (whole channels and heads removed).

Unstructured pruning zeroes the smallest weights of each Linear layer: it buys nothing in dense kernels or in
a dense file, so its reported size is the count of non-zero weights only as information. Structured pruning
uses torch-pruning's dependency graph (DepGraph): every layer, norm, reshape and element-wise op coupled to a
channel is found by tracing the model once, so a group (an FFN's hidden neurons, an attention block's heads
across query/key/value/output, a convolution with its batch norm) shrinks consistently and the layers really
get smaller. The groups that set the model's output width are left alone. Each group is pruned on a copy and
kept only if the forward pass still runs and gives outputs of the same shapes; a group that breaks it (a view
that needs the old width) is listed with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tightfit.errors import TechniqueNotApplicable, bad_param
from tightfit.params import Interval, check

__all__ = ["magnitude_prune", "structured_prune"]

# attributes through which attention modules name their head count (Hugging Face, timm, fairseq conventions)
HEAD_COUNT_ATTRIBUTES = ("num_attention_heads", "num_heads", "n_heads", "n_head")
PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


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


def structured_prune(
    model: nn.Module, inputs: Sequence[Any], sparsity: float, norm: int = 2, residual: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of ``model`` with ``sparsity`` of each coupled channel group removed, least important first.

    A channel's importance is the product over the group's layers of its weights' p-norm (``norm`` p = 1 or 2):
    for an FFN neuron, its weights in times its weights out, so a neuron that carries nothing goes first.
    Attention projections in a module with a head count (``num_attention_heads``, ``num_heads``, ...) lose whole
    heads (the head's summed importance), never part of one, and the module's head count is updated.
    ``residual=True`` also narrows residual streams (channels joined by additions across blocks): every block
    reads them, so that costs more quality. Returns the model and ``{"shrunk": {root: (old, new)},
    "heads": {root: (old, new)}, "skipped": {root: reason}, "groups_found": n}``.
    """
    check_sparsity(sparsity, "structured_prune")
    if norm not in (1, 2):
        raise bad_param("norm", "structured_prune", "1 (L1) or 2 (L2)", norm)
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    inputs = tuple(inputs)
    with torch.no_grad():
        reference = pruned(*inputs)
    graph = tp.DependencyGraph().build_dependency(pruned, example_inputs=inputs)
    groups = list(graph.get_all_groups(root_module_types=PRUNABLE_TYPES))
    shrunk, heads, skipped, roots = {}, {}, {}, []
    for group in groups:  # what a group couples does not change as other groups shrink: judged once, here
        root = _name(group[0].dep.target)
        if _sets_output_width(graph, group):
            skipped[root] = "sets the model's output width"
        elif not residual and _is_residual(group):
            skipped[root] = "a residual stream (channels joined by additions): structured_prune(residual=True)"
        else:
            roots.append(root)
    importance = tp.importance.GroupMagnitudeImportance(p=norm, group_reduction="prod", normalizer=None)
    for root in roots:  # each on a copy of the model so far, traced again: the widths changed
        trial = copy.deepcopy(pruned)
        graph = tp.DependencyGraph().build_dependency(trial, example_inputs=inputs)
        layer = trial.get_submodule(root)
        prune_out = graph.get_pruner_of_module(layer).prune_out_channels
        width = graph.get_out_channels(layer)
        group = graph.get_pruning_group(layer, prune_out, idxs=list(range(width)))
        head_count, owners = _head_count(trial, graph, group)
        drop = _channels_to_drop(importance(group), sparsity, head_count)
        heads_left = head_count - len(drop) * head_count // width
        try:
            graph.get_pruning_group(layer, prune_out, idxs=drop).prune()
            for owner in owners:
                _set_head_count(owner, heads_left)
            with torch.no_grad():
                _same_structure(trial(*inputs), reference)
        except Exception as exc:  # the shrink broke the forward pass: keep the model without it, say why
            skipped[root] = f"shrinking {root}'s group breaks the forward pass: {type(exc).__name__}: {exc}"[:300]
            continue
        pruned = trial
        shrunk[root] = (width, width - len(drop))
        if head_count > 1:
            heads[root] = (head_count, heads_left)
    return pruned, {"shrunk": shrunk, "heads": heads, "skipped": skipped, "groups_found": len(groups)}


def _name(node) -> str:
    """A dependency-graph node's module name (torch-pruning names nodes ``"<name> (<module repr>)"``)."""
    return node.name.split(" (")[0]


def _sets_output_width(graph, group) -> bool:
    """A channel of the group reaches the model's output (an output op, or a layer nothing reads)."""
    return any(graph.is_out_channel_pruning_fn(dep.handler) and not dep.target.outputs for dep, _ in group)


def _is_residual(group) -> bool:
    return any(type(getattr(dep.target, "grad_fn", None)).__name__ == "AddBackward0" for dep, _ in group)


def _head_count(model: nn.Module, graph, group) -> tuple[int, list[nn.Module]]:
    """(heads, their modules) when the group's output projections belong to an attention module, else (1, [])."""
    names = {_name(dep.target) for dep, _ in group if graph.is_out_channel_pruning_fn(dep.handler)}
    owners = {}
    for name in names:
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        for attribute in HEAD_COUNT_ATTRIBUTES:
            count = getattr(parent, attribute, None)
            if isinstance(count, int) and count > 1:
                owners[id(parent)] = (parent, count)
    counts = {count for _, count in owners.values()}
    if len(counts) != 1:
        return 1, []
    return counts.pop(), [parent for parent, _ in owners.values()]


def _channels_to_drop(scores: torch.Tensor, sparsity: float, head_count: int) -> list[int]:
    """The least important channels; with heads, every channel of the least important whole heads."""
    width = len(scores)
    if head_count > 1 and width % head_count == 0:
        per_head = scores.reshape(head_count, -1).sum(1)
        n_drop = min(head_count - 1, round(head_count * sparsity))
        heads = torch.argsort(per_head)[:n_drop].tolist()
        size = width // head_count
        return sorted(h * size + i for h in heads for i in range(size))
    n_drop = min(width - 1, round(width * sparsity))
    return sorted(torch.argsort(scores)[:n_drop].tolist())


def _set_head_count(module: nn.Module, heads: int) -> None:
    """The module's head count (and Hugging Face's ``all_head_size``) after whole heads were removed."""
    attribute = next(a for a in HEAD_COUNT_ATTRIBUTES if isinstance(getattr(module, a, None), int))
    old = getattr(module, attribute)
    setattr(module, attribute, heads)
    if isinstance(getattr(module, "all_head_size", None), int):
        module.all_head_size = module.all_head_size // old * heads


def _same_structure(output: Any, reference: Any) -> None:
    if torch.is_tensor(reference):
        if not torch.is_tensor(output) or output.shape != reference.shape:
            raise TechniqueNotApplicable(
                f"output shape changed: {tuple(getattr(output, 'shape', ()))} != {tuple(reference.shape)}"
            )
        if not torch.isfinite(output).all():
            raise TechniqueNotApplicable("outputs are no longer finite")
    elif isinstance(reference, (tuple, list)):
        for o, r in zip(output, reference, strict=True):
            _same_structure(o, r)
