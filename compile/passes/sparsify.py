"""sparsify: prune the PyTorch model to 2:4 and recover its accuracy by distillation from the dense model.

Consumes and produces a ``torch`` artifact. A TorchModel is a recipe, not a pickle, so the pruned and
recovered weights are saved as a state dict (``model.sparse.pt``, loaded back with
``weights_only=True``) and the output is the same source with ``spec["weights_path"]`` pointing at it.
The report compares dense, pruned and recovered accuracy on the validation images.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from compile.artifacts import TORCH, Artifact, TorchModel
from compile.data.eval_set import EMBEDDED_IMAGES, build_eval_set, data_identity
from compile.data.generated import generate_inputs
from compile.data.images import load_images, scan_image_folder
from compile.hashing import hash_file
from compile.models.registry import load_torch_model
from compile.passes.base import Pass, PassContext, PassResult
from compile.passes.kinds import DENSE_SKIP, RulesOptions
from compile.sparsity.eligibility import ineligibility
from compile.sparsity.reconstruct import reconstruct_pruned
from compile.sparsity.recover import _first_output, image_batches, recalibrate_batch_norm, recover
from compile.sparsity.torch_prune import (
    layer_macs,
    layer_sensitivity,
    masks_hold,
    prune_module,
    select_by_sensitivity,
    torch_layers,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from compile.models.registry import LoadedModel
    from compile.models.spec import ModelInfo
    from compile.settings import RunSettings

OUTPUT_FILE = "model.sparse.pt"
EVAL_BATCH = 16


class SparsifyOptions(RulesOptions):
    recover_steps: int = Field(default=0, ge=0)
    recover_batch_size: int = Field(default=16, ge=1)
    recover_lr: float = Field(default=1e-4, gt=0)
    #: How many calibration images recovery trains on.
    recover_images: int = Field(default=64, ge=1)
    #: Re-estimate the batch-norm statistics after the first pruned layer before distilling (off: on
    #: ~100 images it biased the statistics of EfficientNet-Lite0 and cost accuracy).
    recalibrate_bn: bool = False
    #: Before distilling, re-fit the kept weights of pruned 1x1 Conv / Linear layers by least squares on
    #: the recovery data (masks fixed; :mod:`compile.sparsity.reconstruct`).
    reconstruct: bool = True
    #: What recovery trains: the pruned layers' weights, or every parameter from the first pruned layer on.
    recover_scope: Literal["pruned", "after-first-pruned"] = "pruned"
    #: Prune only the least sensitive eligible layers (per MAC) that reach this share of the
    #: non-depthwise MACs; ``None`` prunes every eligible layer.
    target_mac_share: float | None = Field(default=None, gt=0, le=1)
    #: How many recovery inputs the sensitivity ranking runs on.
    sensitivity_samples: int = Field(default=32, ge=1)
    #: How many validation inputs the dense / pruned / recovered comparison uses.
    eval_samples: int = Field(default=64, ge=1)
    seed: int = 0


class SparsifyPass(Pass):
    name = "sparsify"
    description = "Prune Conv/Linear weights to 2:4 in PyTorch, then recover by distillation from the dense model."
    consumes = (TORCH,)
    produces = TORCH
    Options = SparsifyOptions
    options: SparsifyOptions
    metrics = ("sparsity_*",)

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.sparsity == "2:4" else DENSE_SKIP

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        info = ctx.model_info()
        calib = ctx.settings.calib or EMBEDDED_IMAGES
        return {"recover_data": data_identity(info, calib, self.options.recover_images, self.options.seed),
                "eval_data": data_identity(info, ctx.settings.data, self.options.eval_samples, 0)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, TORCH, TorchModel)
        loaded = load_torch_model(source, ctx.settings.weights)
        teacher = loaded.module
        student = copy.deepcopy(teacher)
        macs = layer_macs(teacher, tuple(_batch_of_one(t) for t in loaded.example_inputs))
        data = _recovery_batches(loaded, ctx, self.options) if self.options.recover_steps or self.options.target_mac_share else None
        selection = None
        if self.options.target_mac_share and data is not None:
            selection = self._select(student, macs, data[1], ctx)
        pruned = prune_module(student, self.options.rules(), set(selection["chosen"]) if selection else None)
        for row in pruned.layers:
            row["macs"] = macs.get(row["name"])
        warnings: list[str] = []
        section: dict[str, Any] = {"pattern": "2:4", "pytorch": _summary(pruned.layers, macs), "pytorch_layers": pruned.layers}
        if not pruned.masks:
            warnings.append(f"no layer is eligible for 2:4 under these rules (min_channels={self.options.min_channels}): "
                            "the model stays dense")
            return PassResult(source, record={"pruned_layers": 0}, modified=False, report={"sparsity": section},
                              warnings=warnings)
        ctx.log(f"  2:4: pruned {len(pruned.masks)} of {len(pruned.layers)} Conv/Linear layers "
                f"({100 * section['pytorch']['pruned_share_of_non_depthwise_macs']:.1f}% of non-depthwise MACs)")
        evaluation = _evaluation_set(loaded.info, ctx, self.options.eval_samples)
        accuracy: dict[str, Any] = {"data": evaluation[2]}
        dense_out = _predict(teacher, evaluation[0])
        accuracy.update(_scores("pruned", _predict(student, evaluation[0]), dense_out, evaluation[1]))
        recovery = None
        if self.options.recover_steps and data is not None:
            batches, plain, described = data
            ctx.log(f"  recovery: distilling from the dense model on {described}")
            recovery = _recover(student, teacher, pruned.masks, batches, plain, self.options, ctx)
            recovery["data"] = described
            accuracy.update(_scores("recovered", _predict(student, evaluation[0]), dense_out, evaluation[1]))
        else:
            warnings.append("2:4 without recovery (recover_steps = 0): expect a large accuracy drop; use --recover-steps N")
        accuracy.update(_scores("dense", dense_out, dense_out, evaluation[1]))
        if not masks_hold(student, pruned.masks):
            raise self.fail("a pruned weight became non-zero during recovery")
        section.update({"accuracy": accuracy, "recovery": recovery, "selection": selection})
        path = self._save(student, ctx)
        digest = hash_file(path)
        spec = {**source.spec, "weights": f"sparse:{digest}", "weights_path": str(path), "sparsity": "2:4"}
        metrics = {f"sparsity_{k}": float(v) for k, v in accuracy.items() if isinstance(v, (int, float))}
        record = {"pruned_layers": len(pruned.masks), "weights_file": path.name, "weights_sha256": digest,
                  "recovery_seconds": recovery["seconds"] if recovery else 0.0}
        return PassResult(TorchModel(source=source.source, spec=spec), record=record, report={"sparsity": section},
                          metrics=metrics, warnings=warnings)

    def _select(self, module: torch.nn.Module, macs: dict[str, int], plain: list[tuple[torch.Tensor, ...]],
                ctx: PassContext) -> dict[str, Any]:
        """Rank the eligible layers by how much pruning each alone moves the output, per MAC, and keep the
        least sensitive until they carry ``target_mac_share`` of the non-depthwise MACs."""
        import time

        import torch

        started = time.perf_counter()
        layers = torch_layers(module)
        rules = self.options.rules()
        candidates = [name for name, _, desc in layers if ineligibility(desc, rules) is None]
        non_dw = sum(macs.get(name, 0) for name, _, desc in layers if not desc.depthwise)
        count = self.options.sensitivity_samples
        inputs = tuple(torch.cat([batch[i] for batch in plain])[:count] for i in range(len(plain[0])))
        ctx.log(f"  2:4 selection: ranking {len(candidates)} eligible layers by sensitivity on {len(inputs[0])} inputs")
        sensitivity = layer_sensitivity(module, candidates, inputs)
        chosen = select_by_sensitivity(sensitivity, macs, non_dw, self.options.target_mac_share or 1.0)
        share = sum(macs.get(name, 0) for name in chosen) / max(1, non_dw)
        return {"target_mac_share": self.options.target_mac_share, "share_selected": round(share, 4), "chosen": chosen,
                "sensitivity": {name: round(value, 6) for name, value in sensitivity.items()},
                "samples": len(inputs[0]), "seconds": round(time.perf_counter() - started, 2)}

    def _save(self, module: torch.nn.Module, ctx: PassContext) -> Path:
        """Write the state dict in the work folder, then move it into the run directory (the pipeline
        only moves files of artifacts that have a path, and a TorchModel has none)."""
        import torch

        staged = ctx.output_path(OUTPUT_FILE)
        torch.save(module.state_dict(), staged)
        final = (ctx.run_dir / OUTPUT_FILE).resolve()
        os.replace(staged, final)
        return final


def _batch_of_one(tensor: Any) -> Any:
    return tensor[:1] if hasattr(tensor, "shape") and tensor.shape and tensor.shape[0] > 1 else tensor


def _summary(layers: list[dict[str, Any]], macs: dict[str, int]) -> dict[str, Any]:
    total = sum(macs.values())
    non_dw = sum(macs.get(r["name"], 0) for r in layers if not (r["groups"] > 1 and r["groups"] == r["in_channels"]))
    eligible = sum(macs.get(r["name"], 0) for r in layers if r["eligible"])
    pruned = sum(macs.get(r["name"], 0) for r in layers if r["pruned"])
    return {"layers": len(layers), "pruned_layers": sum(r["pruned"] for r in layers), "macs_total": total,
            "pruned_share_of_eligible_macs": round(pruned / eligible, 4) if eligible else 0.0,
            "pruned_share_of_non_depthwise_macs": round(pruned / non_dw, 4) if non_dw else 0.0,
            "pruned_share_of_all_macs": round(pruned / total, 4) if total else 0.0}


def _evaluation_set(info: ModelInfo, ctx: PassContext, samples: int) -> tuple[dict[str, np.ndarray], list[int] | None, str]:
    data = build_eval_set(info, ctx.settings.data, samples)
    return data.feeds, data.labels, data.description


def _predict(module: torch.nn.Module, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import numpy as np
    import torch

    arrays = list(feeds.values())
    outputs = []
    with torch.no_grad():
        for start in range(0, len(arrays[0]), EVAL_BATCH):
            batch = [torch.from_numpy(a[start:start + EVAL_BATCH]) for a in arrays]
            outputs.append(_first_output(module(*batch)).detach().numpy())
    return np.concatenate(outputs)


def _scores(prefix: str, outputs: np.ndarray, dense: np.ndarray, labels: list[int] | None) -> dict[str, float]:
    import numpy as np

    scores: dict[str, float] = {}
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        cos = float((outputs * dense).sum() / (np.linalg.norm(outputs) * np.linalg.norm(dense) + 1e-12))
        return {f"{prefix}_cosine_similarity": round(cos, 6)}
    if prefix != "dense":
        scores[f"{prefix}_top1_agreement"] = round(float((outputs.argmax(1) == dense.argmax(1)).mean()), 4)
    if labels is not None and max(labels) < outputs.shape[1]:
        scores[f"{prefix}_top1"] = round(float((outputs.argmax(1) == np.asarray(labels)).mean()), 4)
    return scores


def _recovery_batches(loaded: LoadedModel, ctx: PassContext,
                      options: SparsifyOptions) -> tuple[Any, list[tuple[torch.Tensor, ...]], str]:
    """(step -> augmented batch, the data as plain batches, a description)."""
    import torch

    info = loaded.info
    if info.is_image_model:
        assert info.preprocessing is not None
        root = ctx.settings.calib or EMBEDDED_IMAGES
        folder = scan_image_folder(root).take(options.recover_images)
        images, _ = load_images(folder, info.preprocessing, limit=options.recover_images)
        described = f"{len(images)} images from {root} (random resized crop, flip)"
        tensor = torch.from_numpy(images)
        plain: list[tuple[torch.Tensor, ...]] = [(tensor[i:i + options.recover_batch_size],)
                                                 for i in range(0, len(tensor), options.recover_batch_size)]
        return image_batches(tensor, options.recover_batch_size, options.seed), plain, described

    def draw(step: int) -> tuple[torch.Tensor, ...]:
        feeds = generate_inputs(info.inputs, options.recover_batch_size, seed=options.seed + step)
        return tuple(torch.from_numpy(feeds[spec.name]) for spec in info.inputs)

    return draw, [draw(options.recover_steps + i) for i in range(4)], "generated inputs (the model takes no images)"


def _recover(student: torch.nn.Module, teacher: torch.nn.Module, masks: dict[str, torch.Tensor], batches: Any,
             plain: list[tuple[torch.Tensor, ...]], options: SparsifyOptions, ctx: PassContext) -> dict[str, Any]:
    import time

    import torch

    torch.manual_seed(options.seed)
    started = time.perf_counter()
    refitted = reconstruct_pruned(student, teacher, masks, plain) if options.reconstruct else []
    norms = recalibrate_batch_norm(student, masks, plain) if options.recalibrate_bn else 0
    bn_seconds = time.perf_counter() - started
    if refitted:
        ctx.log(f"  recovery: {len(refitted)} layers re-fitted by least squares in {bn_seconds:.1f}s")
    stats = recover(student, teacher, masks, batches, options.recover_steps, options.recover_lr,
                    options.recover_batch_size, progress=ctx.settings.progress, log=ctx.log, scope=options.recover_scope)
    result = stats.to_dict()
    result.update({"bn_recalibrated_layers": norms, "scope": options.recover_scope, "refitted_layers": len(refitted),
                   "refit_seconds": round(bn_seconds, 2),
                   "seconds": round(stats.seconds + bn_seconds, 2)})
    return result
