"""How the members of an in-context ensemble differ, in one place: the estimators build their members by these
rules (:mod:`tightfit.tabular.in_context`, :mod:`tightfit.tabular.classifier`) and the footprint planner counts
the distinct members by them before any exists (:func:`tightfit.tabular.footprint.distinct_members`), so the two
cannot drift apart. Inputs drawn at random per member are :func:`tightfit.tabular.wide.draws_columns`."""

from __future__ import annotations

__all__ = ["MIN_TRANSFORM_ROWS", "ONE_VS_REST_FROM", "class_shift", "one_vs_rest", "quantile_transformed"]

ONE_VS_REST_FROM = 7  # classes: multiclass="auto" codes one binary context per class from here (see classifier)
MIN_TRANSFORM_ROWS = 10  # a smaller context is never quantile-transformed (too few rows for its quantiles)


def one_vs_rest(n_classes: int, max_classes: int, multiclass: str = "auto") -> bool:
    """Whether a classifier's member codes one binary context per class instead of one context of all classes:
    always above the model's ``max_classes``; under ``multiclass="auto"`` from :data:`ONE_VS_REST_FROM`."""
    if n_classes > max_classes or multiclass == "ovr":
        return n_classes > 2
    return multiclass == "auto" and n_classes >= ONE_VS_REST_FROM


def class_shift(member: int, n_classes: int, ovr: bool) -> int:
    """The cyclic shift of the class labels member ``member`` codes its context with (none for one-vs-rest,
    whose binary contexts code each class as 1 in turn)."""
    return 0 if ovr else member % n_classes


def quantile_transformed(member: int, context_rows: int) -> bool:
    """Whether member ``member`` reads its inputs quantile-normal transformed: every second, from
    :data:`MIN_TRANSFORM_ROWS` context rows."""
    return member % 2 == 1 and context_rows >= MIN_TRANSFORM_ROWS
