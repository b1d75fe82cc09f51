"""Reading and writing ONNX files with clear errors, and the model info we store in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from compile.errors import OnnxModelError, error_cause
from compile.models.spec import InputSpec, ModelInfo, Preprocessing

if TYPE_CHECKING:
    import onnx

MODEL_INFO_KEY = "compile.model_info"
TWO_GB = 2**31 - 1
ONNX_TO_NUMPY = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


def load_onnx(path: Path, load_external_data: bool = True) -> onnx.ModelProto:
    """Load and check an ONNX file; a truncated, corrupt or unsafe file is one clear error."""
    import onnx

    if not path.is_file():
        raise OnnxModelError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf raises DecodeError and others
        raise OnnxModelError(f"{path} is not a readable ONNX file (truncated or corrupt): {type(err).__name__}") from err
    _check_external_data(model, path)
    if load_external_data:
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(path.parent))
        except (OSError, ValueError) as err:
            raise OnnxModelError(f"{path}: cannot read its external data: {err}") from err
    if not model.graph.node:
        raise OnnxModelError(f"{path} has an empty graph")
    return model


def _check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """External data must be a file inside the model's own folder (no path traversal)."""
    external_data_files(model, path)


def external_data_locations(model: onnx.ModelProto) -> dict[str, str]:
    """``location`` -> the name of one tensor stored there, for every tensor whose data lives in an external
    file: initializers and node attributes, in subgraphs and local functions too, and sparse initializers."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    tensors = list(_get_all_tensors(model))
    for sparse in model.graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    found: dict[str, str] = {}
    for tensor in tensors:
        if uses_external_data(tensor):
            location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
            found.setdefault(location, tensor.name)
    return found


def external_data_files(model: onnx.ModelProto, path: Path) -> list[tuple[str, Path]]:
    """Every external data file the tensors of ``model`` (loaded from ``path``, weights not needed) name,
    whatever its name, as (location, file) sorted by location. Raises OnnxModelError for a missing file or
    one outside the model's folder."""
    base = path.parent.resolve()
    files = []
    for location, tensor in sorted(external_data_locations(model).items()):
        if not location:
            raise OnnxModelError(f"{path}: tensor '{tensor}' is marked external but names no location")
        target = (base / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(base):
            raise OnnxModelError(f"{path}: tensor '{tensor}' points its external data outside the model's folder ({location})")
        if not target.is_file():
            raise OnnxModelError(f"{path}: tensor '{tensor}' needs external data file '{location}', which is missing")
        files.append((location, target))
    return files


def check_onnx(model: onnx.ModelProto, where: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=False)
    except onnx.checker.ValidationError as err:
        raise OnnxModelError(f"{where} fails the ONNX checker: {error_cause(err)}") from err


def save_onnx(model: onnx.ModelProto, path: Path) -> None:
    """Save as one file when it fits in protobuf's 2 GB, else with one external data file beside it."""
    import onnx

    large = model.ByteSize() > TWO_GB
    onnx.save_model(model, str(path), save_as_external_data=large, all_tensors_to_one_file=True,
                    location=path.name + ".data" if large else None)


#: Operator domains ONNX Runtime's CPU build implements besides the standard ones.
RUNTIME_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}


def check_supported_ops(model: onnx.ModelProto, where: str) -> None:
    """Every node must be a known ONNX operator (or an ONNX Runtime contrib op) at the model's opset."""
    import onnx

    opsets = {entry.domain or "": entry.version for entry in model.opset_import}
    local_functions = {(f.domain, f.name) for f in model.functions}
    for node in model.graph.node:
        domain = node.domain or ""
        if (domain, node.op_type) in local_functions:
            continue
        if domain not in RUNTIME_DOMAINS:
            raise OnnxModelError(f"{where}: node '{node.name or node.op_type}' uses op '{node.op_type}' from domain "
                                 f"'{domain}', which no backend here implements")
        if domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, opsets.get(domain, opsets.get("", 1)), domain):
            raise OnnxModelError(f"{where}: unsupported op '{node.op_type}' (node '{node.name or node.op_type}') "
                                 f"at opset {opsets.get(domain, opsets.get('', 1))}")


def set_model_info(model: onnx.ModelProto, info: ModelInfo) -> None:
    for prop in list(model.metadata_props):
        if prop.key == MODEL_INFO_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = MODEL_INFO_KEY, json.dumps(info.to_dict(), sort_keys=True)


def graph_input_specs(model: onnx.ModelProto) -> list[InputSpec]:
    """The graph's real inputs (initializers excluded); symbolic axes keep their names, unknown ones
    are "dynamic"."""
    initializers = {init.name for init in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dims = tuple(d.dim_param or (d.dim_value if d.dim_value > 0 else "dynamic") for d in tensor_type.shape.dim)
        specs.append(InputSpec(value.name, dims, ONNX_TO_NUMPY.get(tensor_type.elem_type, "float32")))
    return specs


def model_info_from_onnx(model: onnx.ModelProto, name: str) -> ModelInfo:
    """The info we stored at export, else one derived from the graph (preprocessing assumed for images)."""
    for prop in model.metadata_props:
        if prop.key == MODEL_INFO_KEY:
            return ModelInfo.from_dict(json.loads(prop.value))
    # Generated inputs: floats in [-1, 1), integers (ids, indices) in [0, 100).
    specs = [InputSpec(spec.name, spec.shape, spec.dtype, *((-1.0, 1.0) if spec.dtype.startswith("float") else (0, 100)))
             for spec in graph_input_specs(model)]
    outputs = tuple(o.name for o in model.graph.output)
    image_like = len(specs) == 1 and len(specs[0].shape) == 4 and specs[0].shape[1] == 3 and specs[0].dtype == "float32"
    preprocessing = None
    warnings: tuple[str, ...] = ()
    if image_like:
        size = specs[0].shape[2] if isinstance(specs[0].shape[2], int) else 224
        preprocessing = Preprocessing(resize=int(round(size * 256 / 224)), crop=int(size), assumed=True)
        specs[0] = InputSpec(specs[0].name, specs[0].shape, "float32", -2.5, 2.5)
        warnings = ("the ONNX file carries no preprocessing: ImageNet defaults were assumed",)
    return ModelInfo(name=name, inputs=tuple(specs), output_names=outputs, preprocessing=preprocessing,
                     weights="from the ONNX file", warnings=warnings)


def read_model_info(path: Path) -> ModelInfo:
    return model_info_from_onnx(load_onnx(path, load_external_data=False), path.stem)


def inspect_source_onnx(path: Path) -> ModelInfo:
    """Check an ONNX file the user gave (readable, safe external data, valid, supported ops) and describe it."""
    model = load_onnx(path, load_external_data=False)
    check_supported_ops(model, path.name)
    return model_info_from_onnx(model, path.stem)


def count_nodes(model: onnx.ModelProto) -> int:
    return len(model.graph.node)


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
