"""Typed artifacts: what passes consume and produce.

An artifact is a small immutable record naming something on disk (or a recipe to load it) with a
content hash, so the pipeline can tell whether a stage's inputs changed without loading anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from compile.errors import UserInputError
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
        """The build record this artifact names ({} when it has none). Raises UserInputError when the
        named sidecar is unreadable: the artifact cannot be run safely without it."""
        if self.sidecar is None or not self.sidecar.is_file():
            return {}
        data, why = _read_json_object(self.sidecar)
        if data is None:
            raise UserInputError(f"sidecar {self.sidecar} of {self.path.name} cannot be read: {why}")
        return data


ARTIFACT_TYPES: dict[str, type[Artifact]] = {cls.kind: cls for cls in (TorchModel, OnnxModel, RuntimeArtifact)}


def artifact_from_record(record: dict[str, Any]) -> Artifact:
    """Inverse of :meth:`Artifact.to_record` (used to reload cached stage outputs)."""
    data = dict(record)
    cls = ARTIFACT_TYPES[data.pop("kind")]
    for key in ("path", "sidecar"):
        if data.get(key) is not None:
            data[key] = Path(data[key])
    return cls(**data)


#: A sidecar (the build record beside an artifact) is named ``<artifact file name>.compile.json``, a name no
#: user file has by chance; ``m.json`` beside a user's ``m.onnx`` is never taken for one.
SIDECAR_SUFFIX = ".compile.json"


def sidecar_name(artifact_name: str) -> str:
    """``model.ort.onnx`` -> ``model.ort.onnx.compile.json``."""
    return artifact_name + SIDECAR_SUFFIX


@dataclass(frozen=True)
class FoundSidecar:
    """What :func:`find_sidecar` found beside an artifact: the file and its content (``None``/{} when none),
    and one-line warnings about files that were passed over."""

    path: Path | None
    data: dict[str, Any]
    warnings: tuple[str, ...] = ()


def find_sidecar(artifact: Path) -> FoundSidecar:
    """The tool's build record beside ``artifact``, never a traceback: an unreadable one is a warning.

    Run directories written before the ``.compile.json`` name (``model.ort.json``, ``model.plan.json``)
    are still read, but only when the content is recognisably a sidecar of this tool."""
    warnings: list[str] = []
    current = artifact.with_name(sidecar_name(artifact.name))
    if current.is_file():
        data, why = _read_json_object(current)
        if data is not None:
            return FoundSidecar(current, data)
        warnings.append(f"ignoring {current.name} beside {artifact.name}: {why}")
    for legacy in dict.fromkeys((artifact.with_name(artifact.name + ".json"), artifact.with_suffix(".json"))):
        if not legacy.is_file():
            continue
        data, why = _read_json_object(legacy)
        if data is not None and _is_legacy_sidecar(data):
            return FoundSidecar(legacy, data, tuple(warnings))
        warnings.append(f"ignoring {legacy.name} beside {artifact.name}: not a build record of this tool "
                        f"({why or 'other content'}); sidecars are named {sidecar_name(artifact.name)}")
    return FoundSidecar(None, {}, tuple(warnings))


def _read_json_object(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        return None, f"cannot read it ({type(err).__name__})"
    except json.JSONDecodeError as err:
        return None, f"not valid JSON (line {err.lineno}: {err.msg})"
    if not isinstance(data, dict):
        return None, f"a JSON {type(data).__name__}, not an object"
    return data, ""


def _is_legacy_sidecar(data: dict[str, Any]) -> bool:
    """What the ONNX Runtime, TensorRT and OpenVINO builds always wrote into their sidecars."""
    ort = data.get("backend") == "onnxruntime" and "load_optimization" in data and "onnxruntime_version" in data
    trt = data.get("runtime") in ("tensorrt", "onnxruntime-gpu") and "schema" in data and "bindings" in data
    openvino = data.get("backend") == "openvino" and "openvino_version" in data and "source_onnx_sha256" in data
    return ort or trt or openvino
