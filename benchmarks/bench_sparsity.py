"""2:4 sparsity on EfficientNet-Lite0 (real weights), through the compile pipeline on the CPU.

The data folder's first ``--recover-images`` images are used to recover (distil) and to calibrate INT8,
the rest to evaluate. One pipeline run (profile ``cpu`` with the rules below) gives:

* dense FP32 top-1, 2:4 without recovery, 2:4 after recovery (PyTorch, from the ``sparsify`` pass),
* 2:4 + INT8 after recovery (ONNX Runtime, from ``validate`` against the dense FP32 PyTorch model): top-1
  and top-1 agreement with dense FP32; the INT8 weights are GPTQ-rounded with the pruned zeros held
  (``--weight-rounding nearest`` for plain rounding),
* the share of eligible / non-depthwise / all Conv+Gemm MACs that carry 2:4 (``verify-sparsity`` on the
  INT8 graph, through DequantizeLinear), the recovery time, and the per-layer table.

    .venv/bin/python benchmarks/bench_sparsity.py [--data DIR] [--steps 50] [--min-channels 64] [--target-share 0.32]
        [--weight-rounding gptq|nearest]

CPU timings are noisy when the machine is shared. ONNX Runtime gains no speed from 2:4: this measures
accuracy; the speed-up needs a GPU with sparse tensor cores (TensorRT).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compile.data.split import split_labeled_folder  # noqa: E402 - after the path set-up

DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet-sample-500"
KEEP_PASSES = {"sparsify", "export", "simplify", "sparsify-onnx", "quantize-int8", "verify-sparsity", "build-ort", "validate"}


def make_profile(args: argparse.Namespace, evaluate: int) -> Any:
    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["sparsity"].update(min_channels=args.min_channels, exclude=args.exclude, recover_steps=args.steps,
                            recover_batch_size=args.batch_size, recover_lr=args.lr)
    if args.target_share:
        data["sparsity"]["target_mac_share"] = args.target_share
    data["validation"]["samples"] = evaluate
    data["calibration"]["size"] = args.recover_images
    if args.calib_method:
        data["calibration"]["method"] = args.calib_method
    data["calibration"]["weight_rounding"] = args.weight_rounding
    data["gates"] = {}
    data["passes"] = [entry for entry in data["passes"] if entry["name"] in KEEP_PASSES]
    return parse_profile(data, "bench_sparsity (cpu)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--recover-images", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--min-channels", type=int, default=64)
    parser.add_argument("--target-share", type=float, default=0.32,
                        help="Prune the least sensitive eligible layers up to this share of non-depthwise MACs (0: all eligible).")
    parser.add_argument("--exclude", nargs="*", default=[])
    parser.add_argument("--calib-method", default=None, choices=["minmax", "entropy", "percentile"], help="Default: the cpu profile's.")
    parser.add_argument("--weight-rounding", default="gptq", choices=["gptq", "nearest"],
                        help="INT8 weight rounding (GPTQ keeps the pruned zeros; a second value reuses the pruned model).")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-sparsity")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    from compile.drivers.pipeline import Pipeline
    from compile.settings import RunSettings
    from compile.sparsity.verify import SparsityTable, markdown_table

    recover, evaluate = split_labeled_folder(args.data, args.out / "data", args.recover_images, ("recover", "evaluate"))
    n_eval = len(list(csv.DictReader((evaluate / "labels.csv").open(encoding="utf-8"))))
    profile = make_profile(args, n_eval)
    settings = RunSettings(model=args.model, profile="cpu", precision="int8", sparsity="2:4", out=args.out / "run",
                           data=evaluate, calib=recover, calib_size=args.recover_images, force=args.force)
    started = time.perf_counter()
    result = Pipeline(settings, profile=profile, log=lambda line: print(line, file=sys.stderr, flush=True)).run()
    wall = time.perf_counter() - started
    report = result.report
    sparsity, accuracy = report["sparsity_details"], report.get("accuracy", {})
    torch_acc = sparsity.get("accuracy", {})
    dense = torch_acc.get("dense_top1")
    figures = {
        "model": args.model, "recover_images": args.recover_images, "eval_images": n_eval,
        "rules": {"min_channels": args.min_channels, "exclude": args.exclude, "target_mac_share": args.target_share},
        "selection": {k: v for k, v in (sparsity.get("selection") or {}).items() if k != "sensitivity"},
        "recovery": sparsity.get("recovery"),
        "dense_fp32_top1": dense,
        "sparse_no_recovery_top1": torch_acc.get("pruned_top1"),
        "sparse_recovered_top1": torch_acc.get("recovered_top1"),
        "sparse_recovered_int8_top1": accuracy.get("candidate_top1"),
        "sparse_recovered_int8_top1_agreement": accuracy.get("top1_agreement"),
        "weight_rounding": next((s["record"].get("weight_rounding") for s in report["stages"] if s["name"] == "quantize-int8"), None),
        "reference_top1_in_validate": accuracy.get("reference_top1"),
        "shares": {k: v for k, v in sparsity["summary"].items() if k.startswith("sparse_share")},
        "layers_2to4": sparsity["summary"]["layers_2to4"], "wall_s": round(wall, 1),
    }
    for key in ("sparse_no_recovery", "sparse_recovered", "sparse_recovered_int8"):
        if dense is not None and figures[f"{key}_top1"] is not None:
            figures[f"{key}_drop_points"] = round(100 * (dense - figures[f"{key}_top1"]), 2)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    table = SparsityTable(rows=[r for r in sparsity["layers"] if r["pruned"] or r["eligible"]])
    print("\nlayers that are eligible or pruned (INT8 graph):\n" + markdown_table(table))


if __name__ == "__main__":
    main()
