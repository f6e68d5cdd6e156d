"""Ensemble members the model reads identically are computed once: TinyTFM has no feature-index embedding, so
members that differ only in the order of their inputs give the same output. Predictions stay those of every
member computed, the count is the footprint planner's, and members that do differ are all kept."""

import copy

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

from tightfit.tabular import TinyTFMClassifier, TinyTFMRegressor
from tightfit.tabular.footprint import PredictSettings, distinct_members
from tightfit.tabular.in_context import InContextEstimator


def _every_member(monkeypatch):
    monkeypatch.setattr(InContextEstimator, "_distinct", lambda self, members: members)


@pytest.mark.parametrize(
    "make, data, rows, distinct",
    [
        (TinyTFMClassifier, load_breast_cancer, 300, 2),  # binary: shift and transform coincide -> 2 of 8
        (TinyTFMClassifier, load_wine, 120, 6),  # 3 classes x 2 transforms: 6 of 8
        (TinyTFMRegressor, load_diabetes, 300, 2),  # transform only
    ],
)
def test_members_read_identically_are_computed_once_and_predict_the_same(make, data, rows, distinct, monkeypatch):
    X, y = data(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))  # wine is sorted by class
    X, y = X[order], y[order]
    model = make(n_estimators=8, device="cpu").fit(X[:rows], y[:rows])
    members = model._members()
    assert len(members) == distinct and sum(m.count for m in members) == 8
    out = model.predict_proba(X[rows:]) if make is TinyTFMClassifier else model.predict(X[rows:])
    _every_member(monkeypatch)
    every = copy.deepcopy(model)  # the same fit (and feature selection); its members are built again, all 8
    assert len(every._members()) == 8
    reference = every.predict_proba(X[rows:]) if make is TinyTFMClassifier else every.predict(X[rows:])
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "params, rows, expected",
    [
        ({}, 400, 2),  # digits, one-vs-rest: the transform alone differs (wide: the same 32 inputs per member)
        ({"multiclass": "direct"}, 400, 8),  # 10 shifts x 2 transforms: all 8 differ
        ({"max_context": 200}, 400, 8),  # each member draws its own context rows
        ({"feature_reduction": "subsample"}, 400, 8),  # each member draws its own columns
    ],
)
def test_the_planner_counts_the_members_the_classifier_computes(params, rows, expected):
    X, y = load_digits(return_X_y=True)
    clf = TinyTFMClassifier(n_estimators=8, device="cpu", **params).fit(X[:rows], y[:rows])
    assert len(clf._members()) == expected
    settings = PredictSettings(clf.max_context, clf.batch_size, 8, True)
    shared = clf.feature_reduction != "subsample"
    assert distinct_members(settings, clf.model_.config, 10, rows, clf.multiclass, shared) == expected
