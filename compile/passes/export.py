"""export: PyTorch -> ONNX, checked, shape-inferred, and compared with PyTorch before anyone trusts it.

Exporters have produced silently wrong graphs, so the exported model is run with ONNX Runtime on the
same inputs as PyTorch (at batch 2, which also proves the dynamic batch axis works). If the chosen
exporter fails or disagrees, the other one is tried; if both do, the pass fails.
"""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compile.artifacts import ONNX, TORCH, Artifact, OnnxModel, TorchModel
from compile.errors import CompileError
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

if TYPE_CHECKING:
    from compile.models.registry import LoadedModel

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


class ExportPass(Pass):
    name = "export"
    description = "Export the PyTorch model to ONNX (dynamic batch), check it and compare it with PyTorch."
    consumes = (TORCH,)
    produces = ONNX
    Options = ExportOptions
    options: ExportOptions

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from compile.models.registry import load_torch_model

        source = self.input(inputs, TORCH, TorchModel)
        loaded = load_torch_model(source, ctx.settings.weights)
        out = ctx.output_path(OUTPUT_FILE)
        order = [self.options.exporter]
        if self.options.fallback:
            order.append("torchscript" if self.options.exporter == "dynamo" else "dynamo")
        attempts: list[str] = []
        for exporter in order:
            try:
                error = self._export_once(loaded, out, exporter)
            except CompileError as err:
                attempts.append(f"{exporter}: {err}")
                continue
            if error <= self.options.parity_tolerance:
                return self._result(out, loaded, exporter, error, attempts)
            attempts.append(f"{exporter}: outputs differ from PyTorch by {error:.3g} (tolerance {self.options.parity_tolerance:g})")
        raise self.fail("no exporter produced a graph that matches PyTorch: " + "; ".join(attempts))

    def _export_once(self, loaded: LoadedModel, out: Path, exporter: str) -> float:
        import torch

        from compile.onnx_io import check_onnx, load_onnx, save_onnx, set_model_info

        info = loaded.info
        input_names = [spec.name for spec in info.inputs]
        output_names = list(info.output_names)
        # Batch 2, not 1: torch.export specialises dimensions of size 1, which would pin the batch axis.
        examples = tuple(_batched(t, EXPORT_BATCH) for t in loaded.example_inputs)
        kwargs: dict[str, Any] = {}
        if exporter == "dynamo":
            if self.options.dynamic_batch:
                batch = torch.export.Dim("batch", min=1, max=4096)
                kwargs["dynamic_shapes"] = tuple({0: batch} for _ in examples)
        elif self.options.dynamic_batch:
            kwargs["dynamic_axes"] = {name: {0: "batch"} for name in input_names + output_names}
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), redirect_stdout(sink), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(loaded.module, examples, str(out), input_names=input_names, output_names=output_names,
                                  opset_version=self.options.opset, dynamo=exporter == "dynamo", **kwargs)
        except Exception as err:  # noqa: BLE001 - exporters raise anything; the message is what matters
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise self.fail(f"torch.onnx.export ({exporter}) failed: {first[:300]}") from err
        model = load_onnx(out)
        check_onnx(model, f"the {exporter} export")
        import onnx

        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        set_model_info(model, info)
        for stale in out.parent.glob(out.name + ".data"):
            stale.unlink()
        save_onnx(model, out)
        return _parity_error(loaded, out)

    def _result(self, out: Path, loaded: LoadedModel, exporter: str, error: float, attempts: list[str]) -> PassResult:
        from compile.onnx_io import count_nodes, load_onnx, op_histogram

        model = load_onnx(out, load_external_data=False)
        warnings_ = list(loaded.info.warnings)
        if attempts:
            warnings_.append(f"fell back to the {exporter} exporter: " + "; ".join(attempts))
        record = {
            "exporter": exporter,
            "opset": self.options.opset,
            "nodes": count_nodes(model),
            "ops": op_histogram(model),
            "parity_max_rel_error": error,
            "parity_batch": PARITY_BATCH,
            "model_info": loaded.info.to_dict(),
        }
        return PassResult(OnnxModel(path=out), record=record, warnings=warnings_)


def _batched(tensor: Any, batch: int) -> Any:
    import torch

    if not isinstance(tensor, torch.Tensor):
        return tensor
    return tensor[:1].repeat(batch, *([1] * (tensor.dim() - 1))) if tensor.shape[0] != batch else tensor


def _parity_error(loaded: LoadedModel, path: Path) -> float:
    import numpy as np
    import torch

    from compile.backends.ort.runner import OrtRunner
    from compile.data.generated import generate_inputs
    from compile.parity import max_relative_error

    feeds = generate_inputs(loaded.info.inputs, PARITY_BATCH, seed=1)
    with torch.no_grad():
        reference = loaded.module(*[torch.from_numpy(feeds[spec.name]) for spec in loaded.info.inputs])
    reference_list = [reference] if isinstance(reference, torch.Tensor) else list(reference)
    with OrtRunner(path) as runner:
        outputs = runner.infer(feeds)
    return max_relative_error([np.asarray(r.detach()) for r in reference_list], list(outputs.values()))
