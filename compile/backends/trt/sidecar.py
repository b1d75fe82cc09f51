"""The record written beside every engine: what built it, for which GPU and profile, with which bindings.

A plan file says nothing about itself that can be read without TensorRT; the sidecar does, so the
compatibility guard, the runner and the Triton packager work from it (and from plain Python).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from compile.errors import UserInputError
from compile.fsutil import write_json_atomic

SCHEMA_VERSION = 1
#: Runtimes an engine artifact may be run with: the TensorRT API, or ONNX Runtime's TensorRT/CUDA providers.
RUNTIMES = ("tensorrt", "onnxruntime-gpu")
REQUIRED = ("schema", "runtime", "tensorrt_version", "gpu", "profile", "bindings", "onnx_sha256", "compatibility")


@dataclass(frozen=True)
class Binding:
    """One engine input or output. ``shape`` has -1 for dynamic axes; inputs carry their profile's
    min/opt/max."""

    name: str
    mode: Literal["input", "output"]
    shape: tuple[int, ...]
    dtype: str
    min: tuple[int, ...] | None = None
    opt: tuple[int, ...] | None = None
    max: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "mode": self.mode, "shape": list(self.shape), "dtype": self.dtype}
        for key in ("min", "opt", "max"):
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binding:
        def dims(key: str) -> tuple[int, ...] | None:
            return tuple(data[key]) if data.get(key) is not None else None

        return cls(data["name"], data["mode"], tuple(data["shape"]), data["dtype"], dims("min"), dims("opt"), dims("max"))


def make_sidecar(*, runtime: str, tensorrt_version: str | None, gpu_name: str, compute_capability: str | None,
                 profile: str, hardware: str, precision: str, sparsity: str, bindings: list[Binding],
                 onnx_sha256: str, engine_sha256: str | None, hardware_compatibility: str, version_compatible: bool,
                 build_path: str, builder: dict[str, Any], dla_core: int | None = None,
                 platform: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar record. ``platform``: where the engine was built, ``{"machine": "aarch64",
    "jetson_module": "NVIDIA Jetson AGX Orin Developer Kit" or None}`` (the guard refuses another platform)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}")
    return {
        "schema": SCHEMA_VERSION,
        "backend": "tensorrt",
        "runtime": runtime,
        "tensorrt_version": tensorrt_version,
        "build_path": build_path,
        "gpu": {"name": gpu_name, "compute_capability": compute_capability},
        "platform": platform or {},
        "profile": profile,
        "hardware": hardware,
        "precision": precision,
        "sparsity": sparsity,
        "dla_core": dla_core,
        "bindings": [b.to_dict() for b in bindings],
        "onnx_sha256": onnx_sha256,
        "engine_sha256": engine_sha256,
        "compatibility": {"hardware": hardware_compatibility, "version_compatible": version_compatible},
        "builder": builder,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }


def write_sidecar(path: Path, sidecar: dict[str, Any]) -> None:
    validate_sidecar(sidecar, str(path))
    write_json_atomic(path, sidecar)


def read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserInputError(f"engine sidecar {path} is missing: the engine cannot be checked or run without it") from err
    except (OSError, json.JSONDecodeError) as err:
        raise UserInputError(f"engine sidecar {path} cannot be read: {err}") from err
    validate_sidecar(data, str(path))
    return data


def validate_sidecar(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise UserInputError(f"engine sidecar {where} is not a JSON object")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise UserInputError(f"engine sidecar {where} lacks {', '.join(missing)}")
    if data["schema"] != SCHEMA_VERSION:
        raise UserInputError(f"engine sidecar {where} has schema {data['schema']}, this tool reads {SCHEMA_VERSION}")
    if data["runtime"] not in RUNTIMES:
        raise UserInputError(f"engine sidecar {where}: unknown runtime '{data['runtime']}'")


def bindings(sidecar: dict[str, Any], mode: str | None = None) -> list[Binding]:
    found = [Binding.from_dict(b) for b in sidecar["bindings"]]
    return [b for b in found if mode is None or b.mode == mode]
