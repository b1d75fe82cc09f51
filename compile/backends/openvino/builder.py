"""ONNX -> OpenVINO IR, compiled for the device with OpenVINO's compiled-model cache.

The IR is two files: ``model.ov.xml`` (the graph) and its weights, saved as ``model.ov.xml.data``
(the project's name for weights beside a model file, so the run directory, the shared stage cache and
bundles carry it). Weights stay FP32 (``save_model`` would halve them to FP16 by default). The graph's
``rt_info`` records the source ONNX's SHA-256 and the OpenVINO version, so the XML, whose hash is the
artifact's identity, differs whenever the weights do.

The same :func:`compile_config` serves the build and every runner. OpenVINO's compiled-model cache
(``CACHE_DIR``) holds the CPU plugin's transformed graph, keyed by the model and the device; the hints
(precision, threads) are applied when it is loaded, so every runner of the IR reads the blob the build
wrote (``LOADED_FROM_CACHE``) instead of compiling again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compile.errors import MissingDependencyError, OnnxModelError, UserInputError, error_cause

if TYPE_CHECKING:
    import openvino as ov

#: Suffix of the weights file beside ``model.ov.xml``.
WEIGHTS_SUFFIX = ".data"
#: Where the graph records what it was converted from (``model.get_rt_info(RT_INFO + [key])``).
RT_INFO = ["compile"]
#: Runtime layer types whose precision says whether INT8 really ran (the rest is glue).
COMPUTE_LAYERS = ("Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution")


def require_openvino(purpose: str) -> None:
    try:
        import openvino  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("openvino", purpose, extra="openvino") from err


def openvino_version() -> str:
    """The full runtime version, e.g. ``2026.4.1-22982-e213a147257-releases/2026/4``."""
    import openvino as ov

    return str(ov.get_version())


def release(version: str) -> str:
    """``2026.4.1-22982-...`` -> ``2026.4.1``: the part that names a release."""
    return version.split("-", 1)[0]


def weights_path(xml: Path) -> Path:
    return xml.with_name(xml.name + WEIGHTS_SUFFIX)


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def device_family(device: str) -> str:
    """``"GPU.1"`` -> ``"GPU"``: the plugin a device name belongs to."""
    return device.split(".", 1)[0].upper()


def compile_config(device: str, performance_hint: str, inference_precision: str, threads: int | None) -> dict[str, Any]:
    """OpenVINO properties for ``compile_model``. ``threads=None`` on a CPU takes every usable CPU, as the
    ONNX Runtime backend does; ``inference_precision="device-default"`` leaves the plugin's choice (BF16 on
    CPUs with AVX-512 BF16 or AMX, which is not FP32)."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
    if inference_precision != "device-default":
        config["INFERENCE_PRECISION_HINT"] = inference_precision
    if device_family(device) == "CPU":
        config["INFERENCE_NUM_THREADS"] = threads or usable_cpus()
    return config


def make_core(cache_dir: Path | None) -> ov.Core:
    import openvino as ov

    core = ov.Core()
    if cache_dir is not None:
        core.set_property({"CACHE_DIR": str(cache_dir)})
    return core


def check_device(core: ov.Core, device: str) -> None:
    available = list(core.available_devices)
    if not any(d == device or device_family(d) == device_family(device) for d in available):
        raise UserInputError(f"OpenVINO device '{device}' is not available here (OpenVINO sees: {', '.join(available) or 'none'})")


def convert_onnx(onnx_path: Path, xml: Path, rt_info: dict[str, str]) -> ov.Model:
    """Convert ``onnx_path`` and save it as IR at ``xml`` (weights at :func:`weights_path`, FP32 kept)."""
    import openvino as ov

    try:
        model = ov.convert_model(str(onnx_path))
    except Exception as err:  # noqa: BLE001 - the frontend raises its own types (OpConversionFailure, ...)
        raise OnnxModelError(f"OpenVINO cannot convert {onnx_path.name}: {error_cause(err)}") from err
    for key, value in rt_info.items():
        model.set_rt_info(value, [*RT_INFO, key])
    ov.save_model(model, str(xml), compress_to_fp16=False)
    os.replace(xml.with_suffix(".bin"), weights_path(xml))
    return model


def read_ir(core: ov.Core, xml: Path, weights: Path | None = None) -> ov.Model:
    """The IR at ``xml`` with its weights (default: :func:`weights_path`)."""
    weights = weights or weights_path(xml)
    if not weights.is_file():
        raise UserInputError(f"{xml.name}: its weights file {weights.name} is missing (rebuild: compile run --force)")
    try:
        return core.read_model(str(xml), str(weights))
    except Exception as err:  # noqa: BLE001
        raise OnnxModelError(f"OpenVINO cannot read {xml.name}: {error_cause(err)}") from err


def compile_model(core: ov.Core, model: ov.Model, device: str, config: dict[str, Any], name: str) -> ov.CompiledModel:
    try:
        return core.compile_model(model, device, config)
    except Exception as err:  # noqa: BLE001
        raise OnnxModelError(f"OpenVINO cannot compile {name} for {device}: {error_cause(err)}") from err


@dataclass(frozen=True)
class Binding:
    """One model input or output: ``shape`` has -1 for dynamic axes; ``dtype`` is a numpy name."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def bindings(ports: Any) -> list[Binding]:
    out = []
    for port in ports:
        shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        out.append(Binding(port.get_any_name(), str(port.get_element_type().to_dtype()), shape))
    return out


def runtime_precisions(compiled: ov.CompiledModel) -> dict[str, dict[str, int]]:
    """Compute layers of the compiled model by the precision they run in, e.g. ``{"Convolution": {"u8": 53}}``."""
    counts: Counter[tuple[str, str]] = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str)
        if layer in COMPUTE_LAYERS:
            counts[(layer, info["runtimePrecision"].astype(str))] += 1
    table: dict[str, dict[str, int]] = {}
    for (layer, precision), n in sorted(counts.items()):
        table.setdefault(layer, {})[precision] = n
    return table


def loaded_from_cache(compiled: ov.CompiledModel) -> bool | None:
    """Whether OpenVINO imported ``compiled`` from its cache (None: the device does not say)."""
    try:
        return bool(compiled.get_property("LOADED_FROM_CACHE"))
    except RuntimeError:
        return None


def timed_compile(core: ov.Core, model: ov.Model, device: str, config: dict[str, Any], name: str) -> tuple[ov.CompiledModel, float]:
    started = time.perf_counter()
    compiled = compile_model(core, model, device, config, name)
    return compiled, time.perf_counter() - started
