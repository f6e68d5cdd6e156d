"""triage names the limit with the largest overshoot, with evidence in human units and the ids of the registered
techniques that relax it, in order."""

import pytest

from tightfit import Budget, ConfigError
from tightfit.compress import TECHNIQUES as COMPRESS
from tightfit.plan import WorkloadFacts, triage
from tightfit.tabular import CANDIDATES as TABULAR
from tightfit.train.techniques import TECHNIQUES as TRAINING

ALL = (TRAINING, COMPRESS, TABULAR)


def test_memory_binds_with_evidence_and_ordered_techniques():
    result = triage(
        Budget(memory="4GB", time="10min"),
        WorkloadFacts(memory_bytes=6_100_000_000, fit_seconds=300, context="micro_batch 32, fp32"),
        TRAINING,
    )
    assert result.binding == "memory"
    assert result.evidence == "estimated peak memory 6.1GB > budget 4GB at micro_batch 32, fp32"
    assert result.techniques == ["precision", "micro_batch", "checkpointing", "lora", "optimizer", "release_memory"]
    assert result.ratios == pytest.approx({"memory": 1.525, "time": 0.5})


@pytest.mark.parametrize(
    ("facts", "binding", "first"),
    [
        (WorkloadFacts(memory_bytes=10**9, fit_seconds=1800), "time", "precision"),
        (WorkloadFacts(latency_s=0.05), "latency", "dynamic_int8"),
        (WorkloadFacts(size_bytes=90 * 10**6), "size", "dynamic_int8"),
        (WorkloadFacts(memory_bytes=10**9, n_labelled_rows=300), "data", "TinyTFM zero-shot"),
    ],
)
def test_each_constraint(facts, binding, first):
    budget = Budget(memory="2GB", time="10min", latency="20ms", size="30MB")
    result = triage(budget, facts, ALL)
    assert result.binding == binding and result.techniques[0] == first
    assert all(t in TRAINING or t in COMPRESS or t in TABULAR for t in result.techniques)


def test_largest_overshoot_wins_and_none_when_all_hold():
    budget = Budget(memory="1GB", time="1min")
    assert triage(budget, WorkloadFacts(memory_bytes=1.2e9, fit_seconds=300)).binding == "time"
    calm = triage(budget, WorkloadFacts(memory_bytes=0.5e9, fit_seconds=50))
    assert calm.binding == "none" and calm.techniques == [] and "tightest" in calm.evidence
    assert "fit time 50s <= budget 1min" in calm.evidence


def test_bad_input():
    with pytest.raises(ConfigError, match="'facts' parameter of triage"):
        triage(Budget(), {"memory_bytes": 1})
    with pytest.raises(ConfigError, match="did you mean 'checkpointing'"):
        TRAINING.technique("checkpointng")
