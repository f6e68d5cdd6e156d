"""`ActiveLearner`: uncertainty sampling beats random on a real table, batches without near-duplicates, a cold start
that covers the pool, chunked scoring, the label budget, and bad input named where it is typed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, DataError
from tightfit.tabular import ActiveLearner, TabularPipeline


@pytest.fixture(scope="module")
def cancer_split():
    X, y = load_breast_cancer(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))
    return X[rows[169:]], y[rows[169:]], X[rows[:169]], y[rows[:169]]  # pool of 400, held-out 169


def _curve(strategy: str, seed: int, split, rounds: int = 6) -> list[float]:
    X_pool, y_pool, X_test, y_test = split
    learner = ActiveLearner("TinyTFM", strategy=strategy, batch_size=8, random_state=seed)
    labelled = list(np.random.default_rng(seed).choice(len(y_pool), 8, replace=False))
    aucs = []
    for _ in range(rounds):
        unlabelled = np.setdiff1d(np.arange(len(y_pool)), labelled)
        labelled += list(unlabelled[learner.suggest(X_pool[unlabelled], X_pool[labelled], y_pool[labelled]).rows])
        model = TabularPipeline("TinyTFM").fit(X_pool[labelled], y_pool[labelled])
        aucs.append(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    return aucs


def test_margin_sampling_learns_faster_than_random_on_a_real_table(cancer_split):
    margin = np.mean([_curve("margin", seed, cancer_split) for seed in range(3)], axis=0)
    random = np.mean([_curve("random", seed, cancer_split) for seed in range(3)], axis=0)
    assert margin.mean() > random.mean() + 0.002, (margin, random)  # area under the curve, 16 to 56 labels
    assert margin[-1] > random[-1] + 0.002


def test_a_batch_skips_near_duplicates_that_plain_ranking_would_take():
    X, y = load_breast_cancer(return_X_y=True)
    base = np.random.default_rng(1).permutation(len(y))
    pool = np.repeat(X[base[100:160]], 5, axis=0)  # every row five times
    labelled = base[:30]
    plain = ActiveLearner(diversity=False, batch_size=10).suggest(pool, X[labelled], y[labelled])
    diverse = ActiveLearner(diversity=True, batch_size=10).suggest(pool, X[labelled], y[labelled])
    assert len(np.unique(pool[plain.rows], axis=0)) < 10  # the copies of one uncertain row fill the batch
    assert len(np.unique(pool[diverse.rows], axis=0)) == 10
    assert diverse.uncertainty[0] == plain.uncertainty[0] == plain.uncertainty.max()  # the most uncertain comes first


def test_a_cold_start_takes_one_representative_row_per_cluster():
    X, blob = make_blobs(n_samples=300, centers=[[-10, 0], [0, 10], [10, 0]], cluster_std=1.0, random_state=0)
    suggestion = ActiveLearner(batch_size=3).suggest(pd.DataFrame(X, columns=["a", "b"]))
    assert sorted(blob[suggestion.rows]) == [0, 1, 2] and suggestion.prediction is None
    assert "cold start" in suggestion.how and np.isnan(suggestion.uncertainty).all()
    frame = suggestion.to_frame(pd.DataFrame(X, columns=["a", "b"]))
    assert list(frame.columns) == ["pool_row", "a", "b", "prediction", "uncertainty"] and len(frame) == 3


def test_chunked_scoring_gives_the_same_rows_with_bounded_calls(cancer_split):
    X_pool, y_pool = cancer_split[0], cancer_split[1]
    calls = []

    class Spy(LogisticRegression):
        def predict_proba(self, X):
            calls.append(len(X))
            return super().predict_proba(X)

    labelled = np.arange(40)
    whole = ActiveLearner(Spy(max_iter=5000), chunk_rows=10_000).suggest(X_pool, X_pool[labelled], y_pool[labelled])
    calls.clear()
    chunked = ActiveLearner(Spy(max_iter=5000), chunk_rows=64).suggest(X_pool, X_pool[labelled], y_pool[labelled])
    assert max(calls) <= 64 and sum(calls) >= len(X_pool)
    np.testing.assert_array_equal(whole.rows, chunked.rows)


def test_the_label_budget_caps_the_suggestions_and_then_refuses():
    X, y = load_breast_cancer(return_X_y=True)
    learner = ActiveLearner(LogisticRegression(max_iter=5000), budget=Budget(labels=25), batch_size=10)
    last = learner.suggest(X[30:], X[:20], y[:20])
    assert len(last.rows) == 5 and "5 of labels=25 left" in last.notes[0]
    with pytest.raises(BudgetExceeded, match="labels budget spent: 25 labelled rows of labels=25"):
        learner.suggest(X[30:], X[:25], y[:25])
    assert Budget.parse("labels=25") == Budget(labels=25) and str(Budget(labels=25)) == "labels=25"


def test_bad_input_is_named():
    X, y = load_breast_cancer(return_X_y=True)
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    with pytest.raises(ConfigError, match="strategy"):
        ActiveLearner(strategy="uncertain")
    with pytest.raises(ConfigError, match="labels"):
        Budget(labels=0)
    with pytest.raises(DataError, match=r"missing \['c'\]"):
        ActiveLearner().suggest(frame[["a", "b"]], frame.iloc[:10], y[:10])
    with pytest.raises(DataError, match="single class"):
        ActiveLearner().suggest(frame, frame.iloc[:5], [1] * 5)
    with pytest.raises(ConfigError, match="n=600 is larger than the pool"):
        ActiveLearner().suggest(frame.iloc[:500], n=600)
    with pytest.raises(ConfigError, match="together"):
        ActiveLearner().suggest(frame, frame.iloc[:5])
    with pytest.raises(DataError, match="X_labelled has 6 rows and y_labelled 5"):
        ActiveLearner().suggest(frame, frame.iloc[:6], [0, 1, 0, 1, 0])


def test_qbc_ranks_rows_by_the_committees_disagreement():
    X, y = load_breast_cancer(return_X_y=True)
    learner = ActiveLearner(LogisticRegression(max_iter=5000), strategy="qbc", diversity=False, batch_size=10)
    suggestion = learner.suggest(X[60:], X[:60], y[:60])
    scores = suggestion.uncertainty
    assert (np.diff(scores) <= 0).all() and scores[-1] > 0  # bootstrap members disagree; most disagreement first
    assert suggestion.how == "qbc" and len(set(suggestion.rows)) == 10


def test_pseudo_labels_are_the_confident_rows_and_mostly_right(cancer_split):
    X_pool, y_pool = cancer_split[0], cancer_split[1]
    labelled = np.arange(40)
    sure = ActiveLearner("TinyTFM").pseudo_label(X_pool[40:], X_pool[labelled], y_pool[labelled], threshold=0.95)
    assert 100 < len(sure.rows) < 360 and (sure.uncertainty <= 0.05).all() and (np.diff(sure.uncertainty) >= 0).all()
    assert (sure.prediction == y_pool[40:][sure.rows]).mean() >= 0.97  # 95%-sure labels, measured on the truth
    looser = ActiveLearner("TinyTFM").pseudo_label(X_pool[40:], X_pool[labelled], y_pool[labelled], threshold=0.7)
    assert len(looser.rows) > len(sure.rows)


def test_the_label_command_writes_the_rows_to_label_and_simulates_against_random(tmp_path, capsys):
    from tightfit.cli import main

    frame = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0).reset_index(drop=True)
    partial = frame.copy()
    partial.loc[40:, "target"] = None  # the first 40 rows are labelled, the rest are the pool
    partial.to_csv(tmp_path / "pool.csv", index=False)
    assert main(["label", str(tmp_path / "pool.csv"), "--target", "target", "--n", "6", "--out",
                 str(tmp_path / "next.csv")]) == 0  # fmt: skip
    chosen = pd.read_csv(tmp_path / "next.csv")
    assert len(chosen) == 6 and chosen["row"].between(40, 299).all() and chosen["uncertainty"].gt(0).all()
    assert set(chosen["prediction"]) <= {0, 1} and "target" not in chosen.columns
    frame.to_csv(tmp_path / "full.csv", index=False)
    assert main(["label", str(tmp_path / "full.csv"), "--target", "target", "--simulate", "--n", "8", "--rounds", "4",
                 "--out", str(tmp_path / "sim"), "--quiet"]) == 0  # fmt: skip
    curves = pd.read_csv(tmp_path / "sim" / "learning_curve.csv")
    assert set(curves["strategy"]) == {"margin", "random"} and len(curves) == 8
    assert curves.groupby("strategy")["labels"].max().eq(curves["labels"].max()).all()  # same labels for each
    assert (tmp_path / "sim" / "learning_curve.png").stat().st_size > 10_000
    assert "best:" in capsys.readouterr().out


def test_a_pool_file_is_read_in_chunks_and_gives_what_the_table_gives(tmp_path):
    from sklearn.datasets import make_classification

    X, y = make_classification(3040, 8, n_informative=5, random_state=0)
    pool = pd.DataFrame(X[40:], columns=[f"x{i}" for i in range(8)])
    pool.to_csv(tmp_path / "pool.csv", index=False)
    labelled = pd.DataFrame(X[:40], columns=pool.columns)
    calls = []

    class Spy(LogisticRegression):
        def predict_proba(self, X):
            calls.append(len(X))
            return super().predict_proba(X)

    learner = ActiveLearner(Spy(), chunk_rows=500, batch_size=8)
    from_file = learner.suggest(tmp_path / "pool.csv", labelled, y[:40])
    assert max(calls) <= 500
    from_table = learner.suggest(pool, labelled, y[:40])
    np.testing.assert_array_equal(from_file.rows, from_table.rows)
    pd.testing.assert_frame_equal(from_file.to_frame(tmp_path / "pool.csv"), from_table.to_frame(pool),
                                  check_dtype=False)  # fmt: skip
    cold_file, cold_table = learner.suggest(str(tmp_path / "pool.csv")), learner.suggest(pool)
    np.testing.assert_array_equal(cold_file.rows, cold_table.rows)


def test_max_scored_bounds_the_rows_a_round_scores_on_a_large_pool():
    from sklearn.datasets import make_classification

    X, y = make_classification(3040, 8, n_informative=5, random_state=1)
    calls = []

    class Spy(LogisticRegression):
        def predict_proba(self, X):
            calls.append(len(X))
            return super().predict_proba(X)

    sampled = ActiveLearner(Spy(), max_scored=500, diversity=False).suggest(X[40:], X[:40], y[:40])
    assert sum(calls) == 500 and "scored a random 500 of the 3000 pool rows" in sampled.notes[0]
    calls.clear()
    everything = ActiveLearner(Spy(), max_scored=None, diversity=False).suggest(X[40:], X[:40], y[:40])
    assert sum(calls) == 3000 and not everything.notes
    assert everything.uncertainty.max() >= sampled.uncertainty.max()  # the whole pool's top row is the top of all
    assert len(np.intersect1d(sampled.rows, everything.rows)) < 10  # the sample is not the whole pool
    with pytest.raises(ConfigError, match="max_scored"):
        ActiveLearner(max_scored=0)


def test_a_simulation_never_asks_for_a_row_it_has_labelled_already():
    from sklearn.datasets import make_classification

    from tightfit.tabular.active_simulation import simulate

    # a third of the labels flipped: rows stay uncertain after they are labelled, so a loop that passed the whole
    # pool back would be offered them again
    X, y = make_classification(400, 6, n_informative=3, flip_y=0.3, random_state=0)
    board, _ = simulate(X, y, strategies=("margin",), model=LogisticRegression(), batch_size=10, rounds=8,
                        verbose=False)  # fmt: skip
    rows = board["margin"].details["labelled_rows"]
    assert len(rows) == len(set(rows)) and len(rows) >= 80


def test_the_label_command_does_not_read_a_row_counter_as_a_feature(tmp_path, capsys):
    """An R export's rownames (1..n) counts the file's rows; the labelled rows' numbers are not consecutive, so
    the model read it as a feature. The suggestion is now the one made without the column, which stays in the CSV."""
    from tightfit.cli import main

    frame = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0).reset_index(drop=True)
    frame.loc[np.random.default_rng(0).permutation(300)[40:], "target"] = None  # 40 labelled rows, scattered
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.insert(0, "rownames", np.arange(1, 301))
    frame.to_csv(tmp_path / "counted.csv", index=False)
    for name in ("plain", "counted"):
        assert main(["label", str(tmp_path / f"{name}.csv"), "--target", "target", "--n", "6", "--model",
                     "LogisticRegression", "--out", str(tmp_path / f"{name}_next.csv")]) == 0  # fmt: skip
    assert "dropped 1 identifier-like column(s) (distinct in every row): 'rownames'" in capsys.readouterr().out
    plain, counted = (pd.read_csv(tmp_path / f"{name}_next.csv") for name in ("plain", "counted"))
    assert counted["row"].tolist() == plain["row"].tolist() and (counted["rownames"] == counted["row"] + 1).all()
