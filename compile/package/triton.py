"""A Triton Inference Server model repository for one run.

    OUT/<name>/config.pbtxt        platform tensorrt_plan (or backend onnxruntime), bindings, batching
    OUT/<name>/1/model.plan        the engine (or 1/model.onnx for ONNX Runtime artifacts)
    OUT/<name>/<sidecar>.json      the build record (engine sidecar or ONNX Runtime session settings)
    OUT/<name>/manifest.json       hashes, preprocessing, inputs, what built it

``config.pbtxt`` is rendered from plain data (:func:`triton_config`), in protobuf text format.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from compile.errors import UserInputError
from compile.fsutil import ensure_writable_dir, write_json_atomic, write_text_atomic
from compile.package.bundle import RunBundle, TensorSpec
from compile.package.manifest import MANIFEST_FILE, build_manifest

VERSION_DIR = "1"
#: numpy dtype name -> Triton data type.
TRITON_DTYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16", "float64": "TYPE_FP64",
    "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL",
}
DEFAULT_QUEUE_DELAY_US = 100


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
    ensure_writable_dir(out)
    model_dir = out / run.name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    (model_dir / VERSION_DIR).mkdir(parents=True)
    files: dict[str, Path] = {}
    model_file = f"{VERSION_DIR}/model.plan" if run.backend == "tensorrt" else f"{VERSION_DIR}/model.onnx"
    shutil.copyfile(run.model_path, model_dir / model_file)
    files[model_file] = model_dir / model_file
    data = run.model_path.with_name(run.model_path.name + ".data")
    if data.is_file():
        # ONNX external data is found by the location recorded in the graph: keep its file name.
        shutil.copyfile(data, model_dir / VERSION_DIR / data.name)
        files[f"{VERSION_DIR}/{data.name}"] = model_dir / VERSION_DIR / data.name
    if run.sidecar_path is not None:
        name = "engine.json" if run.backend == "tensorrt" else "build.json"
        shutil.copyfile(run.sidecar_path, model_dir / name)
        files[name] = model_dir / name
    write_text_atomic(model_dir / "config.pbtxt", render_pbtxt(triton_config(run)) + "\n")
    files["config.pbtxt"] = model_dir / "config.pbtxt"
    write_json_atomic(model_dir / MANIFEST_FILE, build_manifest(run, "triton", files))
    return model_dir
