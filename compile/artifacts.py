"""Typed artifacts: what passes consume and produce.

An artifact is a small immutable record naming something on disk (or a recipe to load it) with a
content hash, so the pipeline can tell whether a stage's inputs changed without loading anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from compile.hashing import hash_file, hash_json

#: Artifact kinds, the vocabulary of a pass's ``consumes`` and ``produces``.
TORCH = "torch"
ONNX = "onnx"
RUNTIME = "runtime"
#: The model that accuracy is judged against (the PyTorch source, or the ONNX file the user gave).
REFERENCE_KIND = "reference"


@dataclass(frozen=True)
class Artifact:
    kind: ClassVar[str] = ""

    def content_hash(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def files(self) -> list[Path]:
        """Files this artifact needs on disk (a cached stage whose files are gone is redone)."""
        return [p for p in (getattr(self, "path", None), getattr(self, "sidecar", None)) if p is not None]


@dataclass(frozen=True)
class TorchModel(Artifact):
    """A PyTorch model as a recipe: a source spec the model registry can load, never a pickle."""

    kind: ClassVar[str] = TORCH
    source: str
    spec: dict[str, Any] = field(default_factory=dict)
    identity: str = ""

    def content_hash(self) -> str:
        return self.identity or hash_json({"source": self.source, "spec": self.spec})

    def files(self) -> list[Path]:
        # Weights a pass produced (2:4 pruned and recovered) live beside the run's other outputs.
        produced = self.spec.get("weights_path")
        return [Path(produced)] if produced else []


@dataclass(frozen=True)
class OnnxModel(Artifact):
    """An ONNX model file on disk (with its external data, if any, beside it)."""

    kind: ClassVar[str] = ONNX
    path: Path
    precision: str = "fp32"
    sparsity: str = "dense"

    def content_hash(self) -> str:
        return hash_file(self.path)


@dataclass(frozen=True)
class RuntimeArtifact(Artifact):
    """What a backend runs: an ONNX Runtime optimised model or a TensorRT engine, plus its sidecar."""

    kind: ClassVar[str] = RUNTIME
    path: Path
    backend: str
    sidecar: Path | None = None
    precision: str = "fp32"

    def content_hash(self) -> str:
        return hash_file(self.path)

    def read_sidecar(self) -> dict[str, Any]:
        if self.sidecar is None or not self.sidecar.is_file():
            return {}
        return json.loads(self.sidecar.read_text())


ARTIFACT_TYPES: dict[str, type[Artifact]] = {cls.kind: cls for cls in (TorchModel, OnnxModel, RuntimeArtifact)}


def artifact_from_record(record: dict[str, Any]) -> Artifact:
    """Inverse of :meth:`Artifact.to_record` (used to reload cached stage outputs)."""
    data = dict(record)
    cls = ARTIFACT_TYPES[data.pop("kind")]
    for key in ("path", "sidecar"):
        if data.get(key) is not None:
            data[key] = Path(data[key])
    return cls(**data)
