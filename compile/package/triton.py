"""A Triton Inference Server model repository for one run.

    OUT/<name>/config.pbtxt        platform tensorrt_plan (or backend onnxruntime), bindings, batching
    OUT/<name>/1/model.plan        the engine (or 1/model.onnx for ONNX Runtime artifacts, with its external data)
    OUT/<name>/<sidecar>.json      the build record (engine sidecar or ONNX Runtime session settings)
    OUT/<name>/manifest.json       hashes, preprocessing, inputs, what built it

``config.pbtxt`` is rendered from plain data (:func:`triton_config`), in protobuf text format; it parses
with Triton's model-config schema (``inference.ModelConfig``). For an ONNX Runtime CPU run, ``1/model.onnx``
is the portable graph and the run's session settings become the ONNX Runtime backend's own parameters
(graph optimisation level, thread counts, execution mode), applied by the server for its own CPU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from compile.errors import UserInputError
from compile.fsutil import ensure_writable_dir, write_json_atomic, write_text_atomic
from compile.package.bundle import MACHINE_SPECIFIC, PORTABLE, RunBundle, TensorSpec
from compile.package.manifest import MANIFEST_FILE, build_manifest

VERSION_DIR = "1"
#: numpy dtype name -> Triton data type.
TRITON_DTYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16", "float64": "TYPE_FP64",
    "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL",
}
DEFAULT_QUEUE_DELAY_US = 100
#: Our optimisation level -> the ONNX Runtime backend's ``optimization { graph { level } }`` (its source:
#: -1 basic, 1 extended, 2 disabled). "all" is the backend's default when no graph level is given; no level is
#: written for it, since 0, proto3's default value, may be dropped on the way to the backend, which then
#: finds no level to read.
TRITON_GRAPH_LEVELS = {"basic": -1, "extended": 1, "disable": 2, "all": None}


def triton_dtype(dtype: str) -> str:
    if dtype not in TRITON_DTYPES:
        raise UserInputError(f"tensor type '{dtype}' has no Triton equivalent")
    return TRITON_DTYPES[dtype]


def triton_config(run: RunBundle, queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, instances: int = 1) -> dict[str, Any]:
    """The model configuration as data: with max_batch_size > 0, dims leave out the batch axis."""
    def tensor(spec: TensorSpec) -> dict[str, Any]:
        dims = list(spec.shape[1:] if run.max_batch > 0 else spec.shape)
        return {"name": spec.name, "data_type": triton_dtype(spec.dtype), "dims": dims}

    config: dict[str, Any] = {"name": run.name}
    if run.backend == "tensorrt":
        config["platform"] = "tensorrt_plan"
    else:
        config["platform"] = "onnxruntime_onnx"
        config["backend"] = "onnxruntime"
    config["max_batch_size"] = run.max_batch
    config["input"] = [tensor(s) for s in run.inputs]
    config["output"] = [tensor(s) for s in run.outputs]
    if run.max_batch > 0:
        preferred = sorted({b for b in run.batch_sizes if 1 < b <= run.max_batch})
        batching: dict[str, Any] = {"max_queue_delay_microseconds": queue_delay_us}
        if preferred:
            batching["preferred_batch_size"] = preferred
        config["dynamic_batching"] = batching
    kind = "KIND_GPU" if run.backend == "tensorrt" or run.device == "gpu" else "KIND_CPU"
    config["instance_group"] = [{"count": instances, "kind": kind}]
    if run.sidecar.get("runtime") == "onnxruntime-gpu":
        config["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [{"name": "tensorrt"}]}}
    if run.graph in (PORTABLE, MACHINE_SPECIFIC):
        config.update(ort_session_config(run.session))
    return config


def ort_session_config(session: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime session settings (a build-ort sidecar) as the Triton ONNX Runtime backend's
    ``optimization`` and ``parameters`` (a map of string values; intra-op threads 0 = one per core)."""
    level = session.get("load_optimization", "disable")
    if level not in TRITON_GRAPH_LEVELS:
        raise UserInputError(f"unknown ONNX Runtime optimisation level '{level}' in the sidecar")
    threads = {
        "execution_mode": "1" if session.get("execution_mode") == "parallel" else "0",
        "inter_op_thread_count": str(session.get("inter_op_threads") or 1),
        "intra_op_thread_count": str(session.get("intra_op_threads") or 0),
    }
    config: dict[str, Any] = {}
    if TRITON_GRAPH_LEVELS[level] is not None:
        config["optimization"] = {"graph": {"level": TRITON_GRAPH_LEVELS[level]}}
    config["parameters"] = [{"key": key, "value": {"string_value": value}} for key, value in threads.items()]
    return config


_ENUM_KEYS = {"data_type", "kind"}


def render_pbtxt(config: dict[str, Any], indent: int = 0) -> str:
    """Protobuf text format for the nested dict/list config (lists of messages use ``key [ {...}, ... ]``)."""
    pad = "  " * indent
    lines = []
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key} {{")
            lines.append(render_pbtxt(value, indent + 1))
            lines.append(f"{pad}}}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{key} [")
            blocks = []
            for item in value:
                blocks.append(f"{pad}  {{\n{render_pbtxt(item, indent + 2)}\n{pad}  }}")
            lines.append(",\n".join(blocks))
            lines.append(f"{pad}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(key, v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(key, value)}")
    return "\n".join(line for line in lines if line)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if key in _ENUM_KEYS:
        return str(value)
    return json.dumps(str(value))


def write_triton_repository(run: RunBundle, out: Path) -> Path:
    """Write the model folder ``out/<name>`` (replacing an earlier one) and return it."""
    if run.backend == "openvino":
        raise UserInputError("Triton bundles of OpenVINO runs are not written yet: use --format openvino (the IR and "
                             "its sidecar) or --format tar")
    ensure_writable_dir(out)
    model_dir = out / run.name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    (model_dir / VERSION_DIR).mkdir(parents=True)
    files: dict[str, Path] = {}
    model_file = f"{VERSION_DIR}/model.plan" if run.backend == "tensorrt" else f"{VERSION_DIR}/model.onnx"
    shutil.copyfile(run.shipped, model_dir / model_file)
    files[model_file] = model_dir / model_file
    for location, data in run.external_files:
        # ONNX external data is found by the location recorded in the graph: keep its relative path.
        target = model_dir / VERSION_DIR / location
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data, target)
        files[f"{VERSION_DIR}/{location}"] = target
    if run.backend == "tensorrt" and run.sidecar_path is not None:
        shutil.copyfile(run.sidecar_path, model_dir / "engine.json")
        files["engine.json"] = model_dir / "engine.json"
    elif run.sidecar:
        write_json_atomic(model_dir / "build.json", run.session)
        files["build.json"] = model_dir / "build.json"
    write_text_atomic(model_dir / "config.pbtxt", render_pbtxt(triton_config(run)) + "\n")
    files["config.pbtxt"] = model_dir / "config.pbtxt"
    write_json_atomic(model_dir / MANIFEST_FILE, build_manifest(run, "triton", files))
    return model_dir
