"""A tiny detector and a user metric for it: mAP@0.5 of the candidate's detections against the reference's.

    compile run compile.models.detection_example:tiny_detector --precision int8 \\
        --metric compile.models.detection_example:map50 --gate min_map50=0.9

The detector's one output, ``detections`` (N, anchors, 4 + classes), concatenates box coordinates in pixels
with class scores in [0, 1], as YOLO-style heads do. Its factory declares the two column slices as views
(``detections.boxes`` judged as ``boxes``, ``detections.scores`` as ``scores``), so validation measures the
scores' per-anchor class agreement on their own instead of a cosine dominated by the pixel columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compile.models.spec import InputSpec, Preprocessing

#: Anchors whose best class score reaches this are the reference's objects (the ground truth of the parity mAP).
OBJECT_SCORE = 0.5
#: Candidate anchors scoring below this are not detections at all.
MIN_SCORE = 0.05
IOU = 0.5


def tiny_detector(classes: int = 3, size: int = 64) -> Any:
    """A 3-stride-2-convolution backbone and a 1x1 box and class head on ``size`` x ``size`` images:
    ``detections`` (N, (size/8)^2, 4 + classes), boxes as (cx, cy, w, h) in pixels."""
    import torch
    from torch import nn

    class TinyDetector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU())
            self.box = nn.Conv2d(32, 4, 1)
            self.cls = nn.Conv2d(32, classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self.backbone(x)
            boxes = torch.sigmoid(self.box(features)) * size
            scores = torch.sigmoid(self.cls(features))
            return torch.cat([boxes, scores], dim=1).flatten(2).transpose(1, 2)

    torch.manual_seed(0)
    model = TinyDetector().eval()
    with torch.no_grad():  # class logits spread like a trained head's, scores across 0..1
        model.cls.weight.mul_(40.0)
    return {"model": model,
            "inputs": [InputSpec("images", ("batch", 3, size, size), "float32", 0.0, 1.0)],
            "preprocessing": Preprocessing(resize=size, crop=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
            "output_names": ["detections"],
            "output_kinds": {"detections": {"boxes": "[..., 0:4]", "scores": "[..., 4:]"}}}


def _corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) (cx, cy, w, h) -> (x1, y1, x2, y2)."""
    cx, cy, w, h = (boxes[..., i] for i in range(4))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) IoU of corner boxes ``a`` (A, 4) and ``b`` (B, 4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def average_precision(hits: np.ndarray, scores: np.ndarray, objects: int) -> float:
    """All-point interpolated AP (the area under the precision envelope over recall) of detections with
    ``scores`` that are true (``hits``) or false positives, against ``objects`` ground-truth objects."""
    if objects == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = np.concatenate([[0.0], tp / objects])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * envelope[1:]))


def mean_average_precision(truth: list[tuple[np.ndarray, np.ndarray]], found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                           iou: float = IOU) -> float:
    """mAP at ``iou`` over the classes with at least one object. ``truth``: per image (corner boxes (G, 4), classes
    (G,)); ``found``: per image (corner boxes (D, 4), classes (D,), scores (D,)). Per class, detections are matched
    greedily by score to the unmatched object of that class in their image with the highest IoU >= ``iou``."""
    classes = sorted({int(c) for _, labels in truth for c in labels})
    aps = []
    for c in classes:
        hits: list[bool] = []
        scores: list[float] = []
        objects = 0
        for (true_boxes, true_classes), (boxes, labels, conf) in zip(truth, found, strict=True):
            gt = true_boxes[true_classes == c]
            objects += len(gt)
            mine = labels == c
            det, det_scores = boxes[mine], conf[mine]
            taken = np.zeros(len(gt), dtype=bool)
            overlaps = box_iou(det, gt) if len(det) and len(gt) else np.zeros((len(det), len(gt)))
            for i in np.argsort(-det_scores, kind="stable"):
                candidates = np.where(~taken & (overlaps[i] >= iou))[0] if len(gt) else np.array([], dtype=int)
                if candidates.size:
                    taken[candidates[np.argmax(overlaps[i, candidates])]] = True
                hits.append(bool(candidates.size))
                scores.append(float(det_scores[i]))
        aps.append(average_precision(np.array(hits, dtype=bool), np.array(scores), objects))
    return float(np.mean(aps)) if aps else float("nan")


def _detections(output: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: corner boxes, classes and scores of the anchors whose best class score reaches ``threshold``."""
    found = []
    for image in np.asarray(output, dtype=np.float64):
        scores = image[:, 4:]
        best, label = scores.max(axis=1), scores.argmax(axis=1)
        keep = best >= threshold
        found.append((_corners(image[keep, :4]), label[keep], best[keep]))
    return found


def map50(reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], labels: list[int] | None = None,
          metadata: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """``map50``: mAP@0.5 of the candidate's detections (anchors scoring >= 0.05) against the reference's objects
    (anchors scoring >= 0.5): 1.0 when the artifact finds every object the FP32 model finds, with nothing
    ranked above it that the FP32 model does not find. ``objects``: how many reference objects that rests on.
    ``labels`` and ``metadata`` are not used (no ground truth is needed to measure parity)."""
    ref, cand = reference["detections"], candidate["detections"]
    truth = [(boxes, classes) for boxes, classes, _ in _detections(ref, OBJECT_SCORE)]
    return {"map50": mean_average_precision(truth, _detections(cand, MIN_SCORE)),
            "objects": float(sum(len(classes) for _, classes in truth))}


map50.metric_names = ("map50", "objects")  # type: ignore[attr-defined]
