"""Judge-based metrics: hand cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from msd_bench.errors import MetricError
from msd_bench.metrics import judged as J
from msd_bench.metrics.base import MetricValue, bootstrap_ci, from_repeats, list_metrics

BIG = 50.0  # logit scale that makes softmax one-hot to ~1e-21


def _onehot_logits(classes: list[int], n: int) -> torch.Tensor:
    return BIG * torch.nn.functional.one_hot(torch.tensor(classes), n).double()


def test_inception_score_uniform_one_hot_is_k():
    for k in (2, 3, 7):
        logits = _onehot_logits(list(range(k)) * 5, k)
        assert J.inception_score(logits) == pytest.approx(k, rel=1e-9)
        assert J.marginal_entropy(logits) == pytest.approx(math.log(k), rel=1e-9)
        assert J.conditional_entropy(logits) == pytest.approx(0.0, abs=1e-12)


def test_inception_score_identical_predictions_is_one():
    logits = torch.tensor([[0.3, -1.0, 2.0]] * 10)
    assert J.inception_score(logits) == pytest.approx(1.0, abs=1e-12)
    # identical soft predictions: H(y|x) = H(y) = entropy of that distribution
    p = torch.softmax(torch.tensor([0.3, -1.0, 2.0]).double(), 0)
    h = float(-(p * p.log()).sum())
    assert J.conditional_entropy(logits) == pytest.approx(h)
    assert J.marginal_entropy(logits) == pytest.approx(h)


def test_entropies_hand_case():
    # two samples: p1 = (1, 0), p2 = (1/2, 1/2) -> H(y|x) = (0 + log 2)/2; p(y) = (3/4, 1/4)
    logits = torch.log(torch.tensor([[1.0, 1e-300], [0.5, 0.5]], dtype=torch.float64))
    assert J.conditional_entropy(logits) == pytest.approx(0.5 * math.log(2), abs=1e-12)
    hy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert J.marginal_entropy(logits) == pytest.approx(hy, abs=1e-12)
    # IS = exp(H(y) - H(y|x)) (the mutual information identity)
    assert J.inception_score(logits) == pytest.approx(math.exp(hy - 0.5 * math.log(2)), abs=1e-12)


def test_accuracy_and_chance_level():
    logits = _onehot_logits([0, 1, 2, 2], 3)
    assert J.accuracy(logits, [0, 1, 2, 0]) == 0.75
    assert J.chance_level([0, 0, 0, 1]) == pytest.approx(0.75**2 + 0.25**2)
    assert J.chance_level([0, 1, 2, 3]) == pytest.approx(0.25)  # balanced: 1/n
    assert J.chance_level([1, 1], n_classes=4) == 1.0


def test_consistency_definitions():
    # sequence 0: frames 0 0 1 0 ; sequence 1: 2 2 2 2
    frames = torch.stack([_onehot_logits([0, 0, 1, 0], 3), _onehot_logits([2, 2, 2, 2], 3)])
    # swap target: seq0 source label 0, seq1 source label 1
    assert J.swap_consistency(frames, [0, 1]) == pytest.approx((3 / 4 + 0) / 2)
    # global: frames equal to the modal prediction: 3/4 and 4/4
    assert J.global_sample_consistency(frames) == pytest.approx((0.75 + 1.0) / 2)
    # local: consecutive pairs equal: (0,0) yes, (0,1) no, (1,0) no -> 1/3 ; 3/3
    assert J.local_sample_consistency(frames) == pytest.approx((1 / 3 + 1) / 2)


def test_bad_inputs():
    with pytest.raises(MetricError, match="2 dimensions"):
        J.inception_score(torch.zeros(3))
    with pytest.raises(MetricError, match="NaN/Inf"):
        J.inception_score(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(MetricError, match="target has 2 entries"):
        J.accuracy(torch.zeros(3, 2), [0, 1])
    with pytest.raises(MetricError, match="at least 2 frames"):
        J.local_sample_consistency(torch.zeros(2, 1, 3))


def test_metric_values_carry_n_ci_version():
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(400, 4)) * 3)
    target = logits.argmax(1).clone()
    target[:100] = (target[:100] + 1) % 4
    vals = J.judged_values(logits, target, seed=3)
    acc = vals["accuracy"]
    assert acc.value == pytest.approx(0.75) and acc.n == 400 and acc.version == "1" and acc.higher_is_better
    assert acc.ci_low < 0.75 < acc.ci_high and acc.ci_high - acc.ci_low < 0.1
    assert vals["inception_score"].ci_low <= vals["inception_score"].value <= vals["inception_score"].ci_high
    again = J.judged_values(logits, target, seed=3)
    assert again["h_y"].to_dict() == vals["h_y"].to_dict()  # same seed, same numbers
    cons = J.consistency_values(torch.stack([logits[:200], logits[200:]], 1), target[:200])
    assert set(cons) == {"swap_frame_accuracy", "global_sample_consistency", "local_sample_consistency"}


def test_bootstrap_and_repeats():
    lo, hi = bootstrap_ci(np.r_[np.zeros(500), np.ones(500)], seed=0)
    assert lo == pytest.approx(0.5, abs=0.04) and hi == pytest.approx(0.5, abs=0.04) and lo < 0.5 < hi
    assert bootstrap_ci(np.array([1.0])) == (None, None)
    r = from_repeats("mig", [0.5, 0.6, 0.7])
    assert r.value == pytest.approx(0.6) and r.std == pytest.approx(0.1) and r.n == 3
    assert r.ci_low == pytest.approx(0.6 - 1.96 * 0.1 / math.sqrt(3))


def test_not_applicable_is_not_zero():
    v = MetricValue.not_applicable("inception_score", "model has no static prior")
    assert v.value is None and not v.applicable and v.format() == "n/a (model has no static prior)"
    assert v.to_dict()["value"] is None


def test_registry_lists_every_metric_once():
    names = [m.name for m in list_metrics()]
    assert len(names) == len(set(names))
    for needed in ("mig", "sap", "dci.disentanglement", "inception_score", "local_sample_consistency"):
        assert needed in names
    for m in list_metrics():
        assert m.version and m.description


def test_vectorised_bootstrap_statistics_match_definitions():
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(50, 5)) * 2)
    p = torch.softmax(logits, 1).numpy()
    assert J._boot_is(p[None])[0] == pytest.approx(J.inception_score(logits), rel=1e-12)
    assert J._boot_hy(p[None])[0] == pytest.approx(J.marginal_entropy(logits), rel=1e-12)


def test_metric_value_positional_contract():
    # docs/architecture.md: MetricValue(value, ci_low, ci_high, n, version, higher_is_better)
    v = MetricValue(0.5, 0.4, 0.6, 10, "2", False)
    assert (v.value, v.ci_low, v.ci_high, v.n, v.version, v.higher_is_better) == (0.5, 0.4, 0.6, 10, "2", False)
    assert v.applicable and v.format() == "0.500 [0.400, 0.600]"
    assert MetricValue(float("nan")).to_dict()["value"] is None


def test_judged_values_finite_at_a_logit_gap_of_1e4():
    # two sequences, one-hot at a gap of 1e4 (softmax then log would give -inf): exact answers
    gap = 1e4
    logits = torch.tensor([[gap, 0.0, 0.0], [0.0, gap, 0.0]], dtype=torch.float64)
    vals = J.judged_values(logits, torch.tensor([0, 0]), n_boot=50, seed=0)
    assert vals["accuracy"].value == pytest.approx(0.5)
    assert vals["inception_score"].value == pytest.approx(2.0, rel=1e-12)  # two equally frequent classes
    assert vals["h_y_given_x"].value == pytest.approx(0.0, abs=1e-12)
    assert vals["h_y"].value == pytest.approx(math.log(2), rel=1e-12)
    for v in vals.values():
        assert math.isfinite(v.value)
        assert v.ci_low is None or math.isfinite(v.ci_low)
    # the plain functions agree, and a soft row mixed with a 1e4 gap stays finite
    assert J.inception_score(logits) == pytest.approx(2.0, rel=1e-12)
    mixed = torch.tensor([[gap, -gap, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    p2 = torch.full((3,), 1 / 3, dtype=torch.float64)
    py = (torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) + p2) / 2
    hy = float(-(py[py > 0] * py[py > 0].log()).sum())
    assert J.marginal_entropy(mixed) == pytest.approx(hy, rel=1e-12)
    assert J.conditional_entropy(mixed) == pytest.approx(math.log(3) / 2, rel=1e-12)
    assert J.inception_score(mixed) == pytest.approx(math.exp(hy - math.log(3) / 2), rel=1e-12)
