"""What each output holds (its kind), and so which figures validation measures on it.

Every output, and every declared column slice of one, is a *view* with a kind:

- ``logits``, ``probabilities``, ``scores``: class scores along the last axis; top-1/top-5 agreement per position
  (per sample for a 2-D output), and labeled accuracy on the first 2-D one;
- ``embedding``: vectors along the last axis; per-vector cosine (mean, minimum, 1st percentile);
- ``boxes``, ``regression``: values; absolute and relative error percentiles;
- ``mask``: per-pixel classes (N, C, H, W) or a binary map (N, H, W) / (N, 1, H, W); pixel agreement and IoU;
- ``generic``: cosine, SNR, errors (every view gets these too).

The kind comes from, in order: ``--output-kind``, the profile's ``[outputs]``, the model's ``output_kinds``
(a factory's declaration, recorded in the exported graph), else it is inferred from the output's name and
shape (:func:`infer_kind`). Name hints count only where the shape fits the kind, because a lone output
is named ``logits`` by default whatever it holds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from compile.errors import UserInputError
from compile.profiles import Columns, flatten_output_kinds, parse_output_kind

#: Kinds whose figures include top-1/top-5 agreement (class scores along the last axis).
CLASS_KINDS = ("logits", "probabilities", "scores")
#: Name hints, checked in this order on the output name's words (split at ``_ . - :`` and digits).
_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mask", ("mask", "masks", "seg", "segmentation", "segm")),
    ("boxes", ("box", "boxes", "bbox", "bboxes")),
    ("embedding", ("embedding", "embeddings", "embed", "embeds", "pooled", "pooler", "sentence", "features", "hidden")),
    ("probabilities", ("prob", "probs", "probabilities", "softmax")),
    ("scores", ("score", "scores", "conf", "confidence", "objectness")),
    ("regression", ("regression", "depth", "offsets", "keypoints", "landmarks")),
    ("logits", ("logits", "logit")),
)


@dataclass(frozen=True)
class OutputView:
    """One thing validation judges: a whole output (``name == output``) or a column slice of its last axis."""

    name: str
    output: str
    kind: str
    #: (start, stop) on the last axis; ``None``: the whole output.
    columns: Columns | None = None
    #: Where the kind came from: "--output-kind", "profile", "model", or "inferred (...)".
    source: str = "inferred"

    def select(self, array: np.ndarray) -> np.ndarray:
        if self.columns is None:
            return array
        start, stop = self.columns
        return array[..., slice(start, stop)]

    def to_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"kind": self.kind, "source": self.source}
        if self.columns is not None:
            start, stop = self.columns
            entry.update({"output": self.output, "columns": f"[..., {'' if start is None else start}:{'' if stop is None else stop}]"})
        return entry


def _words(name: str) -> set[str]:
    return {word for word in re.split(r"[^a-z]+", name.lower()) if word}


def _fits(kind: str, shape: tuple[int, ...]) -> str | None:
    """Why ``kind`` cannot describe an output of ``shape`` (batch first), or ``None``."""
    if kind in CLASS_KINDS:
        if len(shape) < 2 or shape[-1] < 2:
            return "needs class scores along a last axis of at least 2"
    elif kind == "embedding":
        if len(shape) < 2:
            return "needs vectors along a last axis"
    elif kind == "mask":
        if len(shape) not in (3, 4):
            return "needs (N, C, H, W) class maps or an (N, H, W) / (N, 1, H, W) binary map"
    return None


def infer_kind(name: str, shape: tuple[int, ...]) -> tuple[str, str]:
    """(kind, why) for an output with no declared kind.

    A word of the name that hints at a kind (``boxes``, ``scores``, ``embedding``, ``mask``, ``probs``, ...;
    see ``_HINTS``) decides when the shape fits that kind; otherwise a 2-D output of at least 2 columns is
    ``logits`` (a classifier, as every 2-D output was judged before kinds existed), and anything else is
    ``generic``. The name alone never makes a >2-D output ``logits``: a lone output is named ``logits``
    whatever it holds."""
    words = _words(name)
    for kind, hints in _HINTS:
        # A feature map (N, C, H, W) named "features" is no set of vectors along its last axis.
        plausible = _fits(kind, shape) is None and not (kind == "embedding" and len(shape) > 3)
        if kind != "logits" and words & set(hints) and plausible:
            return kind, f"inferred from the name '{name}'"
    dims = "x".join(str(d) for d in shape[1:]) or "scalar"
    if len(shape) == 2 and shape[1] >= 2:
        return "logits", f"inferred: 2-D output ({dims} per sample)"
    return "generic", f"inferred: {len(shape)}-D output ({dims} per sample) with no kind in its name"


def resolve_views(shapes: Mapping[str, tuple[int, ...]], declared: Mapping[str, str] | None = None,
                  sources: Mapping[str, str] | None = None) -> list[OutputView]:
    """The views of outputs with ``shapes`` (in output order): each output, then the slices declared on it.

    ``declared``: output name -> ``KIND``, or ``OUTPUT.VIEW`` -> ``[KIND][..., START:STOP]`` (a column slice of the
    last axis, judged as its own view named ``OUTPUT.VIEW``); ``sources`` says where each declaration came from.
    A declaration naming no output, a slice without columns, an empty slice, or a kind the output's shape cannot
    have is a UserInputError naming it."""
    try:
        declared = flatten_output_kinds(declared or {})  # a factory's nested form is accepted as it is
    except ValueError as err:
        raise UserInputError(str(err)) from err
    sources = dict(sources or {})
    whole: dict[str, tuple[str, str]] = {}
    slices: dict[str, list[OutputView]] = {name: [] for name in shapes}
    for key, value in declared.items():
        try:
            kind, columns = parse_output_kind(key, value)
        except ValueError as err:
            raise UserInputError(str(err)) from err
        source = sources.get(key, "declared")
        if key in shapes:
            if columns is not None:
                raise UserInputError(f"output kind '{key}' ({source}): a column slice is a view with its own name, "
                                     f"'{key}.NAME' = '{value}'")
            whole[key] = (kind, source)
            continue
        output = next((name for name in sorted(shapes, key=len, reverse=True) if key.startswith(f"{name}.")), None)
        if output is None:
            close = difflib.get_close_matches(key.partition(".")[0], list(shapes), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserInputError(f"output kind '{key}' ({source}) names no output{hint}; the model's outputs: {', '.join(shapes)}")
        if columns is None:
            raise UserInputError(f"output kind '{key}' ({source}): a view of output '{output}' needs columns, "
                                 f"e.g. '{kind}[..., 0:4]'")
        slices[output].append(OutputView(key, output, kind, columns, source))
    views: list[OutputView] = []
    for name, shape in shapes.items():
        kind, source = whole.get(name) or infer_kind(name, tuple(shape))
        views.append(_checked(OutputView(name, name, kind, None, source), tuple(shape)))
        views += [_checked(view, tuple(shape)) for view in slices[name]]
    return views


def _checked(view: OutputView, shape: tuple[int, ...]) -> OutputView:
    if view.columns is not None:
        if len(shape) < 2:
            raise UserInputError(f"output kind '{view.name}': output '{view.output}' has no columns to slice (shape {shape})")
        width = len(range(shape[-1])[slice(*view.columns)])
        if width == 0:
            raise UserInputError(f"output kind '{view.name}': columns {view.to_dict()['columns']} of '{view.output}' "
                                 f"(last axis {shape[-1]}) are empty")
        shape = (*shape[:-1], width)
    problem = _fits(view.kind, shape)
    if problem is not None:
        raise UserInputError(f"output '{view.name}' declared '{view.kind}' ({view.source}) but has shape "
                             f"{('N', *shape[1:])}: '{view.kind}' {problem}")
    return view


def declared_kinds(model: Mapping[str, str], profile: Mapping[str, str], flags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The declarations that apply, and where each came from: the model's, then the profile's ``[outputs]``,
    then ``--output-kind`` (each overrides the one before for the same name)."""
    merged: dict[str, str] = {}
    sources: dict[str, str] = {}
    for where, declared in (("model", model), ("profile", profile), ("--output-kind", flags)):
        for key, value in declared.items():
            merged[key], sources[key] = value, where
    return merged, sources


def class_view(views: list[OutputView], arrays: Mapping[str, np.ndarray]) -> OutputView | None:
    """The first 2-D ``logits``/``probabilities`` view (one class vector per sample): the one labels are scored
    on, and the one a top-1 flip is counted on."""
    for view in views:
        if view.kind in ("logits", "probabilities") and view.select(arrays[view.output]).ndim == 2:
            return view
    return None
