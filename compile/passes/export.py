"""export: PyTorch -> ONNX, checked, shape-inferred, and compared with PyTorch before anyone trusts it.

Exporters have produced silently wrong graphs, so the exported model is run with ONNX Runtime on the
same inputs as PyTorch (at batch 3 after exporting at batch 2, which also proves the dynamic batch
axis works). If the chosen exporter fails or disagrees, the other one is tried; if both do, the pass fails.

Outputs: every tensor the model returns (alone, in tuples, lists or dicts) is a graph output, named as
:mod:`compile.models.outputs` says. The exporters never see those names: dynamo names values after
their ops (``embedding``, ``linear``), and a graph output named like one of them breaks the graph
(two values with one name, pytorch#158094); the outputs are renamed in the ONNX graph afterwards,
any internal value that holds a wanted name first getting a fresh one.

Dynamic axes: every ``str`` axis of an input spec stays symbolic in the graph under its own name.
The size used for a non-batch one (examples, and everything later stages generate) comes from the
profile's ``[shapes.inputs.NAME]`` opt shape, else from the factory (``dynamic_sizes`` or the spec's
``sizes``); with neither, the pass stops with an error naming the axis. The sizes are recorded in
the model info written into the graph and in the stage record.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from compile.artifacts import ONNX, TORCH, Artifact, OnnxModel, TorchModel
from compile.backends.ort.runner import OrtRunner
from compile.data.generated import generate_inputs
from compile.errors import CompileError, PassError, UserInputError, error_cause
from compile.models.outputs import flatten_outputs
from compile.models.registry import load_torch_model
from compile.models.spec import resolve_dynamic_sizes
from compile.onnx_io import check_onnx, count_nodes, load_onnx, op_histogram, save_onnx, set_model_info
from compile.parity import max_relative_error
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.profiles import InputShape

if TYPE_CHECKING:
    import onnx

    from compile.models.registry import LoadedModel
    from compile.models.spec import ModelInfo

OUTPUT_FILE = "model.onnx"
PARITY_BATCH = 3
EXPORT_BATCH = 2


class ExportOptions(PassOptions):
    opset: int = 18
    exporter: Literal["dynamo", "torchscript"] = "dynamo"
    fallback: bool = True
    dynamic_batch: bool = True
    #: Maximum error allowed, relative to max(1, max |output|).
    parity_tolerance: float = 1e-3
    #: The profile's ``[shapes.inputs]``: opt sizes the dynamic axes, recorded in the graph.
    input_shapes: dict[str, InputShape] = Field(default_factory=dict)


class ExportPass(Pass):
    name = "export"
    description = "Export the PyTorch model to ONNX (dynamic batch), check it and compare it with PyTorch."
    consumes = (TORCH,)
    produces = ONNX
    #: 2: every output of tuple/list/dict models, renamed after export; dynamic non-batch axes.
    version = "2"
    Options = ExportOptions
    options: ExportOptions

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, TORCH, TorchModel)
        loaded = load_torch_model(source, ctx.settings.weights)
        info, size_sources = resolve_dynamic_sizes(loaded.info, self.options.input_shapes)
        examples = _examples(loaded, info)
        info = _replace(info, output_names=tuple(_output_names(loaded, info, examples)))
        out = ctx.output_path(OUTPUT_FILE)
        order = [self.options.exporter]
        if self.options.fallback:
            order.append("torchscript" if self.options.exporter == "dynamo" else "dynamo")
        attempts: list[str] = []
        for exporter in order:
            try:
                error = self._export_once(loaded, info, examples, out, exporter)
            except CompileError as err:
                attempts.append(f"{exporter}: {err}")
                continue
            if error <= self.options.parity_tolerance:
                return self._result(out, loaded, info, size_sources, exporter, error, attempts)
            attempts.append(f"{exporter}: outputs differ from PyTorch by {error:.3g} (tolerance {self.options.parity_tolerance:g})")
        raise self.fail("no exporter produced a graph that matches PyTorch: " + "; ".join(attempts))

    def _export_once(self, loaded: LoadedModel, info: ModelInfo, examples: tuple[Any, ...], out: Path, exporter: str) -> float:
        import onnx
        import torch

        input_names = [spec.name for spec in info.inputs]
        kwargs: dict[str, Any] = {}
        # The exporters get output names that cannot clash with their own value names (dynamo: none at all).
        if exporter == "dynamo":
            kwargs["dynamic_shapes"] = _dynamo_shapes(info, self.options.dynamic_batch)
        else:
            placeholders = [f"{PLACEHOLDER}{i}" for i in range(len(info.output_names))]
            kwargs["output_names"] = placeholders
            axes = {spec.name: _axis_names(spec.shape, self.options.dynamic_batch) for spec in info.inputs}
            if self.options.dynamic_batch:
                axes.update({name: {0: _batch_name(info)} for name in placeholders})
            kwargs["dynamic_axes"] = {name: dims for name, dims in axes.items() if dims}
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), redirect_stdout(sink), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(loaded.module, examples, str(out), input_names=input_names,
                                  opset_version=self.options.opset, dynamo=exporter == "dynamo", **kwargs)
        except Exception as err:  # noqa: BLE001 - exporters raise anything; the message is what matters
            raise self.fail(f"torch.onnx.export ({exporter}) failed: {error_cause(err, 300)}") from err
        model = load_onnx(out)
        check_onnx(model, f"the {exporter} export")
        model = name_graph_outputs(model, info.output_names)
        check_onnx(model, f"the {exporter} export with its outputs named")
        _check_dynamic_axes(model, info, exporter, self.options.dynamic_batch)
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        set_model_info(model, info)
        for stale in out.parent.glob(out.name + ".data"):
            stale.unlink()
        save_onnx(model, out)
        return _parity_error(loaded, info, out, PARITY_BATCH if self.options.dynamic_batch else EXPORT_BATCH)

    def _result(self, out: Path, loaded: LoadedModel, info: ModelInfo, size_sources: dict[str, str], exporter: str,
                error: float, attempts: list[str]) -> PassResult:
        model = load_onnx(out, load_external_data=False)
        warnings_ = list(info.warnings)
        if attempts:
            warnings_.append(f"fell back to the {exporter} exporter: " + "; ".join(attempts))
        record = {
            "exporter": exporter,
            "opset": self.options.opset,
            "nodes": count_nodes(model),
            "ops": op_histogram(model),
            "parity_max_rel_error": error,
            "parity_batch": PARITY_BATCH if self.options.dynamic_batch else EXPORT_BATCH,
            "output_names": list(info.output_names),
            # The shape of one sample per input, and where each non-batch dynamic size came from.
            "input_shapes": {spec.name: list(spec.concrete_shape(1)) for spec in info.inputs},
            "dynamic_sizes": size_sources,
            "model_info": info.to_dict(),
        }
        return PassResult(OnnxModel(path=out), record=record, warnings=warnings_)


#: Graph-output names handed to the TorchScript exporter, renamed afterwards (nothing it makes starts so).
PLACEHOLDER = "compile::output_"


def name_graph_outputs(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """The model with its graph outputs named ``names`` (in order), every use renamed with them.

    An internal value (or another output) already holding one of the names is renamed first, to a
    name no value has; an output that is a graph input, an initializer or repeated gets an Identity.
    Raises PassError when the graph has another number of outputs, UserInputError when a name is a
    graph input's."""
    import onnx_ir as ir

    graph_ir = ir.from_proto(model)
    graph = graph_ir.graph
    outputs = list(graph.outputs)
    if len(outputs) != len(names):
        raise PassError(f"the graph has {len(outputs)} outputs, the model returns {len(names)} ({', '.join(names)})")
    values: dict[str, Any] = {v.name: v for v in graph.inputs if v.name}
    values.update(graph.initializers)
    for node in ir.traversal.RecursiveGraphIterator(graph):
        values.update({v.name: v for v in node.outputs if v.name})
    wanted = set(names)
    for index, name in enumerate(names):
        holder = values.get(name)
        if holder is None or holder is outputs[index]:
            continue
        if holder.is_graph_input():
            raise UserInputError(f"output name '{name}' is also the name of an input")
        fresh = _fresh_name(name, values.keys() | wanted)
        holder.name = fresh
        values[fresh] = values.pop(name)
    for index, (value, name) in enumerate(zip(outputs, names, strict=True)):
        if value.name == name:
            continue
        if value.is_graph_input() or value.is_initializer() or value.producer() is None or value in outputs[:index]:
            identity = ir.node("Identity", [value], graph=graph)
            renamed = identity.outputs[0]
            renamed.name, renamed.type, renamed.shape = name, value.type, value.shape
            graph.outputs[index] = renamed
        else:
            value.name = name
    return ir.to_proto(graph_ir)


def _fresh_name(base: str, taken: set[str] | Any) -> str:
    count = 1
    while f"{base}__{count}" in taken:
        count += 1
    return f"{base}__{count}"


def _replace(info: ModelInfo, **changes: Any) -> ModelInfo:
    from dataclasses import replace

    return replace(info, **changes)


def _batch_name(info: ModelInfo) -> str:
    for spec in info.inputs:
        if spec.shape and not isinstance(spec.shape[0], int):
            return str(spec.shape[0])
    return "batch"


def _axis_names(shape: Sequence[int | str], dynamic_batch: bool) -> dict[int, str]:
    """Axis index -> name of each dynamic axis to keep symbolic (axis 0 only when ``dynamic_batch``)."""
    return {i: str(dim) for i, dim in enumerate(shape)
            if not (isinstance(dim, int) and dim > 0) and (i > 0 or dynamic_batch)}


def _dynamo_shapes(info: ModelInfo, dynamic_batch: bool) -> tuple[dict[int, Any], ...]:
    import torch

    # One Dim object for the batch: every input shares it, and a model that pins it fails loudly.
    batch = torch.export.Dim(_identifier(_batch_name(info)), min=1, max=4096)
    # Other axes by name (the exporter keeps the name in the graph and infers their range).
    return tuple({axis: batch if axis == 0 else name for axis, name in _axis_names(spec.shape, dynamic_batch).items()}
                 for spec in info.inputs)


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    return ident if ident and not ident[0].isdigit() else f"d_{ident}"


def _check_dynamic_axes(model: onnx.ModelProto, info: ModelInfo, exporter: str, dynamic_batch: bool) -> None:
    """Every axis the spec declares dynamic must be symbolic in the graph; an exporter that fixed one
    (the model specialises it) made a graph that only runs at the example's size."""
    graph_inputs = {value.name: value for value in model.graph.input}
    for spec in info.inputs:
        value = graph_inputs.get(spec.name)
        if value is None:
            raise PassError(f"the {exporter} export has no input '{spec.name}'")
        dims = value.type.tensor_type.shape.dim
        for axis, name in _axis_names(spec.shape, dynamic_batch).items():
            if axis < len(dims) and dims[axis].dim_value > 0:
                raise PassError(f"the {exporter} exporter fixed axis {axis} ('{name}') of input '{spec.name}' at "
                                f"{dims[axis].dim_value}: the model does not keep it dynamic")


def _examples(loaded: LoadedModel, info: ModelInfo) -> tuple[Any, ...]:
    """Export inputs at batch EXPORT_BATCH (torch.export specialises dimensions of size 1, which would pin
    the batch axis): the factory's example tensors when they have the resolved shapes, else generated ones."""
    import torch

    examples = tuple(_batched(t, EXPORT_BATCH) for t in loaded.example_inputs)
    wanted = [spec.concrete_shape(EXPORT_BATCH) for spec in info.inputs]
    if len(examples) == len(wanted) and all(isinstance(t, torch.Tensor) and tuple(t.shape) == shape
                                            for t, shape in zip(examples, wanted, strict=True)):
        return examples
    feeds = generate_inputs(info.inputs, EXPORT_BATCH, seed=0)
    return tuple(torch.from_numpy(feeds[spec.name]) for spec in info.inputs)


def _output_names(loaded: LoadedModel, info: ModelInfo, examples: tuple[Any, ...]) -> list[str]:
    import torch

    with torch.no_grad():
        names = list(flatten_outputs(loaded.module(*examples), info.output_names))
    clash = sorted(set(names) & {spec.name for spec in info.inputs})
    if clash:
        raise UserInputError(f"output names {clash} are also input names; give the outputs other names (output_names)")
    return names


def _batched(tensor: Any, batch: int) -> Any:
    import torch

    if not isinstance(tensor, torch.Tensor):
        return tensor
    return tensor[:1].repeat(batch, *([1] * (tensor.dim() - 1))) if tensor.shape[0] != batch else tensor


def _parity_error(loaded: LoadedModel, info: ModelInfo, path: Path, batch: int = PARITY_BATCH) -> float:
    """Max relative error of the graph against PyTorch at ``batch`` (PARITY_BATCH; a static-batch graph
    runs only at its export batch), output by output (by name)."""
    import numpy as np
    import torch

    feeds = generate_inputs(info.inputs, batch, seed=1)
    with torch.no_grad():
        reference = flatten_outputs(loaded.module(*[torch.from_numpy(feeds[spec.name]) for spec in info.inputs]),
                                    info.output_names)
    with OrtRunner(path) as runner:
        outputs = runner.infer(feeds)
    if set(outputs) != set(reference):
        raise PassError(f"graph outputs {sorted(outputs)} differ from the model's {sorted(reference)}")
    names = list(reference)
    return max_relative_error([np.asarray(reference[n].detach()) for n in names], [outputs[n] for n in names])
