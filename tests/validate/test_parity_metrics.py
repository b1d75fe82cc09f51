"""Parity metrics on hand-computed cases, and the bootstrap interval on known distributions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from compile.errors import UserInputError
from compile.validate import metrics as m
from compile.validate.bootstrap import bootstrap_mean, paired_difference
from compile.validate.compare import compare_outputs


def test_cosine_similarity_hand_computed() -> None:
    ref = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [0.0, 0.0]])
    cand = np.array([[0.0, 1.0], [2.0, 2.0], [4.0, 3.0], [0.0, 0.0]])
    assert m.cosine_similarity(ref, cand).tolist() == pytest.approx([0.0, 1.0, 24.0 / 25.0, 1.0])


def test_abs_and_rel_errors_hand_computed() -> None:
    ref, cand = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 2.5, 1.0]])
    assert m.abs_errors(ref, cand) == pytest.approx((2.0, 2.5 / 3.0))
    max_rel, mean_rel = m.rel_errors(ref, cand)
    assert max_rel == pytest.approx(2.0 / 3.0, rel=1e-5)
    assert mean_rel == pytest.approx((0.0 + 0.25 + 2.0 / 3.0) / 3.0, rel=1e-5)


def test_snr_hand_computed() -> None:
    assert m.snr_db(np.array([[3.0, 4.0]]), np.array([[3.0, 3.0]])) == pytest.approx(10 * math.log10(25.0))
    assert m.snr_db(np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]])) == math.inf


def test_agreement_and_labeled_topk_hand_computed() -> None:
    ref = np.array([[0.1, 0.9, 0.0], [0.8, 0.2, 0.0], [0.0, 0.1, 0.9], [0.5, 0.3, 0.2]])
    cand = np.array([[0.2, 0.7, 0.1], [0.3, 0.6, 0.1], [0.0, 0.1, 0.9], [0.1, 0.3, 0.6]])
    # top-1: agree on samples 0 and 2; sample 1's reference class 0 is candidate's 2nd; sample 3's class 0 is last.
    assert m.top1_agreement(ref, cand) == 0.5
    assert m.topk_agreement(ref, cand, 2) == 0.75
    assert m.agreement_hits(ref, cand, 1).tolist() == [1.0, 0.0, 1.0, 0.0]
    labels = [1, 1, 0, 2]
    # candidate top-1 classes [1, 1, 2, 2]: right on samples 0, 1 and 3; sample 2's label 0 is its last class.
    assert m.labeled_topk(cand, labels, 1) == 0.75
    assert m.labeled_topk(cand, labels, 2) == 0.75
    assert m.labeled_topk(cand, labels, 3) == 1.0
    assert m.labeled_hits(ref, labels, 1).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_non_finite_count() -> None:
    assert m.non_finite_count(np.array([[np.nan, np.inf, 1.0, -np.inf]])) == 3
    assert m.non_finite_count(np.array([[1, 2]], dtype=np.int64)) == 0


def test_bootstrap_bernoulli_matches_normal_approximation() -> None:
    values = np.array([1.0] * 320 + [0.0] * 80)  # p = 0.8, n = 400: sd of the mean = 0.02
    interval = bootstrap_mean(values, resamples=2000, seed=1)
    assert interval.value == 0.8
    half_width = 1.96 * 0.02
    assert interval.low == pytest.approx(0.8 - half_width, abs=0.008)
    assert interval.high == pytest.approx(0.8 + half_width, abs=0.008)
    assert bootstrap_mean(values, resamples=2000, seed=1) == interval  # seeded: repeatable


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    trials = 100
    for trial in range(trials):
        sample = rng.normal(loc=2.0, scale=1.0, size=80)
        interval = bootstrap_mean(sample, resamples=400, seed=trial)
        covered += interval.low <= 2.0 <= interval.high
    assert 0.86 <= covered / trials <= 1.0


def test_all_agree_uses_the_exact_zero_event_bound() -> None:
    interval = bootstrap_mean(np.ones(64))
    assert interval.value == 1.0 and interval.high == 1.0
    assert interval.low == pytest.approx(0.025 ** (1.0 / 64)) and interval.low == pytest.approx(0.944, abs=0.001)
    assert bootstrap_mean(np.zeros(64)).high == pytest.approx(1.0 - 0.025 ** (1.0 / 64))


def test_paired_difference_is_narrow_when_models_agree() -> None:
    ref = np.array([1.0] * 60 + [0.0] * 40)
    cand = ref.copy()
    cand[:2] = 0.0  # the candidate loses two images the reference had right
    interval = paired_difference(ref, cand, resamples=1000, seed=0)
    assert interval.value == pytest.approx(0.02)
    assert interval.low >= 0.0 and interval.high <= 0.06
    same = paired_difference(ref, ref)  # no discordant pair: the exact zero-event bound, not [0, 0]
    bound = 1.0 - 0.025 ** (1.0 / 100)
    assert (same.value, same.low, same.high) == (0.0, pytest.approx(-bound), pytest.approx(bound))
    with pytest.raises(ValueError):
        paired_difference(ref, cand[:10])


def test_compare_outputs_per_output_metrics_and_intervals() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10))
    boxes = rng.normal(size=(50, 4))
    noisy_boxes = boxes + np.array([0.0, 0.0, 0.0, 0.5])
    labels = [int(i) for i in logits.argmax(1)]
    report, metrics = compare_outputs({"logits": logits, "boxes": boxes}, {"logits": logits, "boxes": noisy_boxes}, labels)
    assert metrics["top1_agreement"] == 1.0 and metrics["top1_agreement_lcb"] == pytest.approx(0.025 ** (1 / 50))
    assert metrics["reference_top1"] == 1.0 and metrics["top1_drop"] == 0.0
    assert metrics["top1_drop_ucb"] == pytest.approx(100 * (1 - 0.025 ** (1 / 50)))  # 7.1 points: 50 images prove little
    assert metrics["max_abs_error.boxes"] == pytest.approx(0.5)
    assert metrics["max_abs_error.logits"] == 0.0
    assert metrics["max_abs_error"] == 0.0  # headline figures come from the first output
    assert set(report["outputs"]) == {"logits", "boxes"}
    assert report["confidence"]["top1_agreement"]["resamples"] == 1000
    assert not any("." in key for key in report if key != "outputs")


def test_compare_outputs_counts_nan_in_every_output() -> None:
    ref = {"a": np.zeros((4, 3)), "b": np.zeros((4, 2))}
    cand = {"a": np.zeros((4, 3)), "b": np.array([[np.nan, 0.0]] * 4)}
    _, metrics = compare_outputs(ref, cand, None)
    assert metrics["non_finite"] == 4.0 and metrics["non_finite.b"] == 4.0


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        ({"scores": np.zeros((4, 3))}, "reference only ['logits'], candidate only ['scores']"),
        ({"logits": np.zeros((4, 5))}, "output 'logits': reference shape (4, 3) vs candidate (4, 5)"),
    ],
)
def test_mismatched_outputs_are_user_errors(candidate: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        compare_outputs({"logits": np.zeros((4, 3))}, candidate, None)


# --- NaN and infinities: equal at the same position are equal, anything else is a mismatch ---------------

def test_non_finite_mismatch_mask_hand_computed() -> None:
    from compile.parity import non_finite_mismatch

    inf, nan = np.inf, np.nan
    ref = np.array([[-inf, 1.0, nan, inf, 2.0, nan, 3.0]])
    cand = np.array([[-inf, 1.0, nan, -inf, inf, inf, 3.5]])
    # agree: both -inf, both finite, both NaN; disagree: +inf vs -inf, finite vs inf, NaN vs inf
    assert non_finite_mismatch(ref, cand).tolist() == [[False, False, False, True, True, True, False]]
    assert not non_finite_mismatch(np.array([1, 2]), np.array([1, 3])).any()  # integers are always finite


def test_parity_ignores_equal_neg_inf_and_measures_the_finite_rest() -> None:
    from compile.parity import max_relative_error

    ref = [np.array([[-np.inf, 2.0, 4.0]]), np.array([[np.nan, 1.0]])]
    cand = [np.array([[-np.inf, 2.0, 3.0]]), np.array([[np.nan, 1.0]])]
    # |4 - 3| / max(1, max |finite ref| = 4) = 0.25; the second output is equal
    assert max_relative_error(ref, cand) == pytest.approx(0.25)


def test_parity_names_the_positions_that_disagree_on_non_finite_values() -> None:
    from compile.errors import PassError
    from compile.parity import max_relative_error

    ref = [np.zeros((1, 2)), np.array([[-np.inf, 1.0, 1.0, np.inf]])]
    cand = [np.zeros((1, 2)), np.array([[-np.inf, np.nan, 1.0, -np.inf]])]
    message = ("output 2 of 2: 2 positions disagree on NaN/inf (1 non-finite only in the candidate, "
               "1 with different non-finite values)")
    with pytest.raises(PassError, match=re.escape(message)):
        max_relative_error(ref, cand)
    with pytest.raises(PassError, match=re.escape("1 position disagrees on NaN/inf (1 non-finite only in the reference)")):
        max_relative_error([np.array([np.nan, 0.0])], [np.array([0.0, 0.0])])


def test_metrics_over_finite_positions_when_non_finite_values_agree() -> None:
    inf = np.inf
    ref = np.array([[-inf, 3.0, 4.0], [1.0, 0.0, -inf]])
    cand = np.array([[-inf, 4.0, 3.0], [1.0, 0.0, -inf]])
    figures = m.output_metrics(ref, cand)
    # sample 0: (3, 4).(4, 3) / 25 = 0.96; sample 1: (1, 0).(1, 0) = 1
    assert figures["cosine_similarity"] == pytest.approx(0.98)
    assert figures["min_sample_cosine"] == pytest.approx(0.96)
    assert figures["max_abs_error"] == 1.0
    assert figures["mean_abs_error"] == pytest.approx(0.5)  # |diffs| 1, 1, 0, 0 over the 4 finite positions
    assert figures["max_rel_error"] == pytest.approx(1.0 / 3.0, rel=1e-5)
    assert figures["snr_db"] == pytest.approx(10 * math.log10(26.0 / 2.0))  # signal 9 + 16 + 1, noise 1 + 1
    assert figures["non_finite"] == 2.0 and figures["non_finite_mismatch"] == 0.0


def test_metrics_fail_where_non_finite_values_disagree() -> None:
    ref = np.array([[-np.inf, 3.0, 4.0], [1.0, 0.0, 2.0]])
    cand = np.array([[-np.inf, 4.0, 3.0], [1.0, np.nan, 2.0]])
    cosines = m.cosine_similarity(ref, cand)
    assert cosines[0] == pytest.approx(0.96) and math.isnan(cosines[1])
    figures = m.output_metrics(ref, cand)
    assert math.isnan(figures["cosine_similarity"]) and math.isnan(figures["min_sample_cosine"])
    assert figures["max_abs_error"] == math.inf and figures["max_rel_error"] == math.inf
    assert figures["snr_db"] == -math.inf
    assert figures["non_finite_mismatch"] == 1.0


def test_agreement_ranks_nan_lowest_on_both_sides() -> None:
    logits = np.array([[np.nan, 1.0, 2.0], [0.5, np.nan, -np.inf]])
    assert m.top1_agreement(logits, logits.copy()) == 1.0
    assert m.topk_indices(logits, 2).tolist() == [[2, 1], [0, 1]]


def test_compare_outputs_masked_logits_keep_a_finite_cosine_and_warn_only_on_mismatch() -> None:
    from compile.validate.compare import non_finite_warning

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5))
    logits[:, 3] = -np.inf  # a masked class
    report, metrics = compare_outputs({"logits": logits, "aux": np.ones((8, 2))}, {"logits": logits + 1e-4, "aux": np.ones((8, 2))}, None)
    assert math.isfinite(report["cosine_similarity"]) and report["cosine_similarity"] > 0.9999
    assert report["max_abs_error"] == pytest.approx(1e-4)
    assert metrics["non_finite"] == 8.0 and metrics["non_finite_mismatch"] == 0.0
    assert non_finite_warning(metrics) is None
    broken = logits.copy()
    broken[:2, 0] = np.inf
    _, metrics = compare_outputs({"logits": logits, "aux": np.ones((8, 2))}, {"logits": broken, "aux": np.ones((8, 2))}, None)
    assert metrics["non_finite_mismatch"] == 2.0 and metrics["non_finite_mismatch.aux"] == 0.0
    assert math.isnan(metrics["cosine_similarity"]) and metrics["max_abs_error"] == math.inf
    assert non_finite_warning(metrics) == ("the candidate's NaN/inf differ from the reference's: 'logits' at 2 positions "
                                           "(errors there are unbounded: cosine NaN, errors inf)")
