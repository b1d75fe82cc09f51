"""Output kinds: each kind's figures on hand-computed cases, column slices, the inference rule, declarations
(factory, profile, flag) and their errors, and gates applied per output with that output's figures."""

from __future__ import annotations

import math
import re
import tomllib

import numpy as np
import pytest

from compile.errors import ProfileError, UserInputError
from compile.models.spec import InputSpec, ModelInfo
from compile.profiles import parse_profile, profiles_dir
from compile.validate.compare import compare_outputs
from compile.validate.gates import checked_gates, evaluate_gates
from compile.validate.kinds import declared_kinds, infer_kind, resolve_views
from compile.validate.metrics import error_percentiles, mask_hits

CPU_GATES = {"min_top1_agreement": 0.97, "min_cosine_similarity": 0.99, "max_top1_drop": 1.5}


@pytest.mark.parametrize(("name", "shape", "kind"), [
    ("logits", (8, 1000), "logits"),
    ("output_0", (8, 10), "logits"),                # any 2-D output with classes: a classifier, as before kinds
    ("logits", (8, 12, 32), "generic"),             # the default name of a lone output says nothing about a 3-D one
    ("context", (8, 12, 32), "generic"),
    ("sentence_embedding", (8, 384), "embedding"),
    ("last_hidden_state", (8, 16, 384), "embedding"),
    ("features", (8, 64, 7, 7), "generic"),         # a feature map is not vectors along its last axis
    ("boxes", (8, 4), "boxes"),
    ("pred_boxes", (8, 100, 4), "boxes"),
    ("scores", (8, 100, 3), "scores"),
    ("objectness", (8, 1), "generic"),              # a score of one column has no class to agree on
    ("probs", (8, 10), "probabilities"),
    ("seg_mask", (8, 21, 16, 16), "mask"),
    ("masks", (8, 16), "logits"),                   # a mask needs (N, C, H, W) or (N, H, W): the hint does not fit
    ("depth", (8, 1, 16, 16), "regression"),
])
def test_kind_is_inferred_from_name_where_the_shape_fits(name: str, shape: tuple[int, ...], kind: str) -> None:
    assert infer_kind(name, shape)[0] == kind


def test_class_kinds_agree_per_position_along_the_last_axis() -> None:
    # 2 samples x 3 anchors x 3 classes; the candidate flips anchor 1 of sample 0 and anchors 0, 2 of sample 1.
    ref = np.array([[[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
                    [[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]])
    cand = ref.copy()
    cand[0, 1] = [0.8, 0.1, 0.1]
    cand[1, 0] = [0.3, 0.6, 0.1]
    cand[1, 2] = [0.5, 0.3, 0.2]
    _, metrics = compare_outputs({"scores": ref}, {"scores": cand}, None, resamples=50, kinds={"scores": "scores"})
    assert metrics["top1_agreement.scores"] == pytest.approx((2 / 3 + 1 / 3) / 2)  # per anchor, averaged per sample
    assert metrics["top1_agreement"] == metrics["top1_agreement.scores"]
    # Top-2 of anchor [0.8, 0.1, 0.1] holds class 1 (stable order), as do the two flipped anchors of sample 1.
    assert metrics["top5_agreement.scores"] == 1.0  # k is capped at the 3 classes


def test_embedding_cosines_per_vector() -> None:
    ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    cand = np.array([[1.0, 0.0], [1.0, 1.0]])
    report, metrics = compare_outputs({"embedding": ref}, {"embedding": cand}, None, resamples=50)
    assert report["output_kinds"]["embedding"]["kind"] == "embedding"  # inferred from the name
    assert metrics["cosine_mean.embedding"] == pytest.approx((1 + math.sqrt(0.5)) / 2)
    assert metrics["cosine_min.embedding"] == pytest.approx(math.sqrt(0.5))
    assert metrics["cosine_p1.embedding"] == pytest.approx(math.sqrt(0.5) + 0.01 * (1 - math.sqrt(0.5)))
    assert "top1_agreement" not in metrics  # no classifier figure on an embedding
    # Tokens of a (N, T, D) output are vectors of their own: sample 0 has cosines 1 and 0.
    tokens = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    _, metrics = compare_outputs({"hidden": tokens}, {"hidden": np.array([[[2.0, 0.0], [1.0, 0.0]]])}, None, resamples=10,
                                 kinds={"hidden": "embedding"})
    assert metrics["cosine_mean"] == pytest.approx(0.5) and metrics["cosine_min"] == 0.0


def test_identical_embeddings_are_certain_not_bounded_like_a_rate() -> None:
    ref = np.random.default_rng(0).normal(size=(16, 8))
    report, metrics = compare_outputs({"embedding": ref}, {"embedding": ref.copy()}, None, resamples=50)
    assert metrics["cosine_mean_lcb.embedding"] == pytest.approx(1.0)  # not the zero-event bound of 0/1 hits (0.79)
    assert report["confidence"]["cosine_mean.embedding"]["method"] == "percentile bootstrap"


def test_box_error_percentiles_hand_computed() -> None:
    ref = np.array([[10.0, 20.0, 30.0, 40.0]] * 5)
    diff = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0], [12.0, 13.0, 14.0, 15.0],
                     [16.0, 17.0, 18.0, 19.0]])
    figures = error_percentiles(ref, ref + diff)
    assert figures["abs_error_p50"] == pytest.approx(9.5)  # median of 0..19
    assert figures["abs_error_p90"] == pytest.approx(17.1) and figures["abs_error_p99"] == pytest.approx(18.81)
    rel = np.sort((diff / ref).reshape(-1))
    assert figures["rel_error_p50"] == pytest.approx(np.percentile(rel, 50))
    assert figures["rel_error_p99"] == pytest.approx(np.percentile(rel, 99))
    # A coordinate at 0 is divided by 1% of the output's mean magnitude, not by ~0.
    zero = np.array([[0.0, 100.0]])
    assert error_percentiles(zero, zero + [[0.5, 0.0]])["rel_error_p99"] == pytest.approx(0.99 * 0.5 / 0.5)
    assert math.isinf(error_percentiles(zero, np.array([[np.nan, 100.0]]))["abs_error_p50"])


def test_mask_pixel_agreement_and_iou_hand_computed() -> None:
    # 1 sample, 3 classes on a 2x2 image: reference classes [[0, 1], [1, 2]], candidate [[0, 1], [2, 2]].
    ref_classes, cand_classes = np.array([[0, 1], [1, 2]]), np.array([[0, 1], [2, 2]])
    ref = np.eye(3)[ref_classes].transpose(2, 0, 1)[None]
    cand = np.eye(3)[cand_classes].transpose(2, 0, 1)[None]
    agreement, iou = mask_hits(ref, cand)
    assert agreement.tolist() == [0.75]
    assert iou[0] == pytest.approx((1.0 + 1 / 2 + 1 / 2) / 3)  # class 0: 1/1, class 1: 1/2, class 2: 1/2
    # Binary probabilities (N, H, W), threshold 0.5: foreground IoU only.
    binary_ref = np.array([[[0.9, 0.8], [0.1, 0.2]]])
    binary_cand = np.array([[[0.9, 0.4], [0.6, 0.2]]])
    agreement, iou = mask_hits(binary_ref, binary_cand)
    assert agreement.tolist() == [0.5] and iou[0] == pytest.approx(1 / 3)
    _, metrics = compare_outputs({"mask": binary_ref}, {"mask": binary_cand}, None, resamples=10)
    assert metrics["pixel_agreement.mask"] == 0.5 and metrics["mean_iou.mask"] == pytest.approx(1 / 3)


def test_column_slices_are_views_with_their_own_kind() -> None:
    """A detection head's (N, anchors, 4 + 3): boxes in pixels next to scores in [0, 1]. The whole tensor's cosine
    is the boxes'; the scores slice measures the class agreement the whole hides."""
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 64, size=(4, 10, 4))
    scores = rng.uniform(0, 1, size=(4, 10, 3))
    ref = np.concatenate([boxes, scores], axis=-1)
    cand = ref.copy()
    cand[..., 4:] = np.round(cand[..., 4:] * 2) / 2  # scores flattened to 3 values
    kinds = {"detections.boxes": "[..., 0:4]", "detections.scores": "scores[..., 4:]"}
    report, metrics = compare_outputs({"detections": ref}, {"detections": cand}, None, resamples=50, kinds=kinds)
    assert list(report["outputs"]) == ["detections", "detections.boxes", "detections.scores"]
    assert report["output_kinds"]["detections.scores"] == {"kind": "scores", "source": "declared", "output": "detections",
                                                           "columns": "[..., 4:]"}
    assert metrics["cosine_similarity.detections"] > 0.99
    assert metrics["max_abs_error.detections.boxes"] == 0.0
    expected = (ref[..., 4:].argmax(-1) == cand[..., 4:].argmax(-1)).mean()
    assert metrics["top1_agreement.detections.scores"] == pytest.approx(expected) and expected < 0.9
    # The profile's top-1 gate now has an output to judge: the scores.
    gates = {g.name: g for g in evaluate_gates(CPU_GATES, metrics)}
    assert gates["min_top1_agreement"].verdict == "fail" and gates["min_top1_agreement"].value == pytest.approx(expected)
    assert metrics["non_finite"] == 0.0 and metrics["samples"] == 4.0


@pytest.mark.parametrize(("kinds", "message"), [
    ({"detection.scores": "[..., 4:]"}, "names no output (did you mean 'detections'?)"),
    ({"detections.scores": "scores"}, "needs columns"),
    ({"detections.scores": "[..., 9:]"}, "are empty"),
    ({"detections": "boxes[..., 0:4]"}, "a column slice is a view with its own name"),
    ({"count": "embedding"}, "output 'count' declared 'embedding' (declared) but has shape ('N',)"),
    ({"detections": "logit"}, "unknown kind 'logit' (did you mean 'logits'?)"),
])
def test_bad_declarations_are_one_line_user_errors(kinds: dict[str, str], message: str) -> None:
    with pytest.raises(UserInputError, match=re.escape(message)):
        resolve_views({"detections": (4, 10, 7), "count": (4,)}, kinds)


def test_declarations_override_in_order_model_profile_flag() -> None:
    merged, sources = declared_kinds({"out": "logits", "aux": "embedding"}, {"out": "embedding"}, {"aux": "generic"})
    assert merged == {"out": "embedding", "aux": "generic"}
    assert sources == {"out": "profile", "aux": "--output-kind"}
    views = resolve_views({"out": (2, 8), "aux": (2, 8)}, merged, sources)
    assert [(v.name, v.kind, v.source) for v in views] == [("out", "embedding", "profile"), ("aux", "generic", "--output-kind")]


def test_a_factory_declares_kinds_and_they_travel_with_the_model() -> None:
    spec = InputSpec("x", ("batch", 3))
    info = ModelInfo("m", (spec,), output_names=("detections",),
                     output_kinds={"detections": {"boxes": "[..., 0:4]", "scores": "scores[..., 4:]"}})
    assert info.output_kinds == {"detections.boxes": "[..., 0:4]", "detections.scores": "scores[..., 4:]"}
    assert ModelInfo.from_dict(info.to_dict()).output_kinds == info.output_kinds
    assert "output_kinds" not in ModelInfo("m", (spec,)).to_dict()  # old graphs' metadata (and hashes) unchanged
    with pytest.raises(UserInputError, match="model m: output kind 'emb' = 'embeddings': unknown kind"):
        ModelInfo("m", (spec,), output_kinds={"emb": "embeddings"})


def _profile(extra: str) -> dict:
    text = (profiles_dir() / "cpu.toml").read_text()
    return tomllib.loads(text.replace("[gates]", f"{extra}\n[gates]", 1))


def test_profile_outputs_section_and_its_errors() -> None:
    profile = parse_profile(_profile('[outputs]\nembedding = "embedding"\n[outputs.detections]\nscores = "[..., 4:]"\n'), "p.toml")
    assert profile.outputs == {"embedding": "embedding", "detections.scores": "[..., 4:]"}
    with pytest.raises(ProfileError, match=r"invalid profile p.toml: outputs: .*unknown kind 'embeding'"):
        parse_profile(_profile('[outputs]\nx = "embeding"\n'), "p.toml")


def test_no_classifier_gate_is_applied_to_an_embedding() -> None:
    """The profile's default gates on an embedding model: top-1 skipped, the cosine gate judged on the embedding,
    and a gate naming the output checks that output's figure."""
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(32, 16))
    cand = ref + rng.normal(scale=0.05, size=ref.shape)
    report, metrics = compare_outputs({"embedding": ref}, {"embedding": cand}, None, resamples=100)
    thresholds = {**CPU_GATES, "min_cosine_mean.embedding": 0.99, "min_cosine_p1.embedding": 0.999}
    gates = {g.name: g for g in evaluate_gates(thresholds, metrics)}
    assert gates["min_top1_agreement"].skipped and gates["max_top1_drop"].skipped
    assert gates["min_cosine_similarity"].verdict == "pass"
    assert gates["min_cosine_mean.embedding"].value == pytest.approx(metrics["cosine_mean.embedding"])
    assert gates["min_cosine_p1.embedding"].verdict == "fail"
    assert checked_gates(thresholds, {"embedding": ref}, None) == {
        "min_cosine_similarity": 0.99, "min_cosine_mean.embedding": 0.99, "min_cosine_p1.embedding": 0.999}


def test_a_gate_without_an_output_judges_every_output_and_names_the_worst() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(16, 8)), rng.normal(size=(16, 8))
    _, metrics = compare_outputs({"a": a, "b": b}, {"a": a + 0.001, "b": b + rng.normal(scale=0.3, size=b.shape)}, None,
                                 resamples=50, kinds={"a": "embedding", "b": "embedding"})
    assert metrics["cosine_similarity"] == metrics["cosine_similarity.a"]  # the headline is the first output's
    gate = evaluate_gates({"min_cosine_similarity": 0.99}, metrics)[0]
    assert gate.verdict == "fail" and gate.value == metrics["cosine_similarity.b"] and gate.detail["output"] == "b"
    assert "on output 'b'" in gate.message()
