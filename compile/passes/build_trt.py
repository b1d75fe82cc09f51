"""build-trt: the TensorRT engine for a GPU profile, built in a subprocess, with a sidecar and the build log.

What to build is decided in plain Python (``compile.backends.trt.settings``: precision path, memory pools,
optimization profile, sparsity, DLA, compatibility, timing cache); the build itself runs in a child
process (``compile.backends.trt.build_worker``) whose TensorRT log goes to ``trt-build.log`` in the run
directory. The engine is written with a sidecar JSON (TensorRT version, GPU, profile, bindings, ONNX hash,
compatibility flags) that the runner's compatibility guard and the Triton packager read.

With ``runtime = "onnxruntime-gpu"`` the same settings become ONNX Runtime TensorRT/CUDA execution
provider options instead (``compile.backends.ort.gpu``; needs onnxruntime-gpu, not the tensorrt package).

What the engine is for (the profile's name, hardware, build and shapes sections) comes in the ``target``
option, resolved by the driver, so the stage key covers it; the pass reads nothing of the profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from compile.analyze.api import AnalyzeRequest, analyze
from compile.artifacts import ONNX, RUNTIME, Artifact, OnnxModel, RuntimeArtifact
from compile.backends.ort import gpu as ort_gpu

# The module, not its function: tests run the build worker in this process instead of a child.
from compile.backends.trt import build_worker
from compile.backends.trt.detect import (
    LocalGpu,
    gpu_matches,
    local_gpu,
    profile_mismatch,
    require_tensorrt,
    tensorrt_version,
    timing_cache_path,
)
from compile.backends.trt.runner import join_layer_times, read_analyze_table
from compile.backends.trt.settings import TrtBuildSettings, TrtTarget, build_settings
from compile.backends.trt.sidecar import Binding, make_sidecar, write_sidecar
from compile.errors import CompileError, MissingDependencyError
from compile.hashing import hash_file
from compile.onnx_io import graph_input_specs as graph_inputs
from compile.onnx_io import load_onnx
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

if TYPE_CHECKING:
    import onnx

ENGINE_FILE = "model.plan"
SIDECAR_FILE = "model.plan.compile.json"  # <engine>.compile.json: a name no user file has by chance
LAYERS_FILE = "model.plan.layers.json"
ORT_MODEL_FILE = "model.trt-ep.onnx"
ORT_SIDECAR_FILE = "model.trt-ep.onnx.compile.json"
BUILD_LOG = "trt-build.log"
#: How many of the slowest layers the report lists.
TOP_LAYERS = 20
FLOAT16 = 10  # onnx.TensorProto.FLOAT16


class BuildTrtOptions(PassOptions):
    #: What the engine is built for: the profile's name and its hardware, build and shapes sections.
    target: TrtTarget
    #: "tensorrt": the TensorRT Python API; "onnxruntime-gpu": ONNX Runtime's TensorRT/CUDA providers.
    runtime: Literal["tensorrt", "onnxruntime-gpu"] = "tensorrt"
    #: Extra memory-pool limits in MiB (dla_managed_sram, dla_local_dram, dla_global_dram, tactic_shared_memory).
    memory_pools_mb: dict[str, int] = Field(default_factory=dict)
    #: After building, time the engine on the build GPU (with/without copies, CUDA graph) and per layer.
    profile_engine: bool = True
    profile_warmup: int = Field(default=10, ge=0)
    profile_iterations: int = Field(default=50, ge=1)
    cuda_graph: bool = True
    #: The build process is stopped after this many seconds.
    timeout_s: float = Field(default=3600.0, gt=0)


class BuildTrtPass(Pass):
    name = "build-trt"
    description = "Build a TensorRT engine for the profile's GPU (subprocess, timing cache, sidecar, build log)."
    consumes = (ONNX,)
    produces = RUNTIME
    Options = BuildTrtOptions
    options: BuildTrtOptions
    metrics = ("trt_with_copies_p50_ms", "trt_device_p50_ms", "trt_device_graph_p50_ms")
    version = "1"

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        # The target (profile name, hardware, build, shapes) is in the options, which the stage key covers.
        gpu = local_gpu() if self.options.runtime == "tensorrt" else None
        return {
            "precision": ctx.settings.precision,
            "sparsity": ctx.settings.sparsity,
            "tensorrt": tensorrt_version() if self.options.runtime == "tensorrt" else None,
            "gpu": [gpu.name, gpu.compute_capability, gpu.jetson_module, gpu.machine] if gpu else None,
        }

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, ONNX, OnnxModel)
        target = self.options.target
        if self.options.runtime == "tensorrt":
            version = require_tensorrt(target.name)
        else:
            if not ort_gpu.gpu_providers_available():
                raise MissingDependencyError("onnxruntime-gpu", f"ONNX Runtime's TensorRT/CUDA providers for profile "
                                             f"'{target.name}'", extra="gpu")
            version = tensorrt_version() or f"{target.hardware.tensorrt_major or 10}"
        gpu = local_gpu()
        if gpu is None:
            raise self.fail(f"no NVIDIA GPU found: a TensorRT engine for '{target.name}' is built on the GPU it runs on")
        mismatch = profile_mismatch(target, gpu)
        if mismatch is not None:
            raise self.fail(f"{mismatch}: an engine is built on the GPU it runs on (use this GPU's profile)")
        model = load_onnx(source.path, load_external_data=False)
        detected = graph_precision(model)
        carried = source.precision if source.precision != "fp32" else detected
        precision = ctx.precision  # resolved once, by the driver
        sparsity = ctx.settings.sparsity if ctx.settings.sparsity != "dense" else source.sparsity
        # On a Jetson CUDA's name is "Orin" for every module: the module names the cache.
        cache = timing_cache_path(gpu.jetson_module or gpu.name, gpu.compute_capability, version)
        specs = graph_inputs(model)
        settings, warnings = build_settings(target, precision=precision, graph_precision=carried, sparsity=sparsity,
                                            tensorrt_version=version, inputs=specs, timing_cache=str(cache),
                                            memory_pools_mb=self.options.memory_pools_mb)
        if target.hardware.gpu_match and gpu_matches(target.hardware.gpu_match, gpu) is None:
            warnings.append(f"profile '{target.name}' is for {target.hardware.name}, this GPU is {gpu.description}: "
                            "same compute capability, so it builds, tuned for this GPU")
        ctx.log(f"  {settings.path_description}")
        if self.options.runtime == "onnxruntime-gpu":
            artifact, record, build_path = ort_gpu.build_artifact(
                source, specs, ctx.output_path(ORT_MODEL_FILE), ctx.output_path(ORT_SIDECAR_FILE), settings, gpu,
                profile=target.name, hardware=target.hardware.name)
            return PassResult(artifact, record=record, report={"tensorrt": {"build_path": build_path}}, warnings=warnings)
        return self._tensorrt(source, ctx, settings, gpu, warnings)

    def _tensorrt(self, source: OnnxModel, ctx: PassContext, settings: TrtBuildSettings, gpu: LocalGpu,
                  warnings: list[str]) -> PassResult:
        target = self.options.target
        engine = ctx.output_path(ENGINE_FILE)
        log_path = ctx.run_dir / BUILD_LOG
        job: dict[str, Any] = {
            "onnx": str(source.path.resolve()), "engine": str(engine.resolve()),
            "layers": str(ctx.output_path(LAYERS_FILE).resolve()),
            "result": str((ctx.work_dir / "trt-result.json").resolve()), "settings": settings.to_dict(),
        }
        if self.options.profile_engine:
            job["profile"] = {"warmup": self.options.profile_warmup, "iterations": self.options.profile_iterations,
                              "cuda_graph": self.options.cuda_graph}
        ctx.log(f"  building in a subprocess (log: {log_path})")
        result = build_worker.run_in_subprocess(job, ctx.work_dir / "trt-job.json", log_path, self.options.timeout_s)
        outcome = result["outcome"]
        bindings = [Binding.from_dict(b) for b in outcome["bindings"]]
        sidecar = make_sidecar(
            runtime="tensorrt", tensorrt_version=outcome["tensorrt_version"], gpu_name=gpu.name,
            compute_capability=gpu.compute_capability, profile=target.name, hardware=target.hardware.name,
            precision=settings.precision, sparsity="2:4" if settings.sparse_weights else "dense", bindings=bindings,
            onnx_sha256=source.content_hash(), engine_sha256=hash_file(engine),
            hardware_compatibility=settings.hardware_compatibility, version_compatible=settings.version_compatible,
            build_path=settings.path_description, builder=settings.to_dict(), dla_core=settings.dla_core,
            platform={"machine": gpu.machine, "jetson_module": gpu.jetson_module},
        )
        sidecar_path = ctx.output_path(SIDECAR_FILE)
        write_sidecar(sidecar_path, sidecar)
        section: dict[str, Any] = {
            "version": outcome["tensorrt_version"], "build_path": settings.path_description, "typing": settings.typing,
            "gpu": {"name": gpu.name, "compute_capability": gpu.compute_capability, "jetson_module": gpu.jetson_module},
            "engine_bytes": outcome["engine_bytes"], "build_seconds": outcome["seconds"],
            "timing_cache": outcome["timing_cache"], "layers": outcome["layers"], "build_log": BUILD_LOG,
        }
        metrics: dict[str, float] = {}
        if "profile" in result:
            measured = result["profile"]
            table = read_analyze_table(ctx.run_dir) or _analyze_rows(source, settings, warnings)
            layers = join_layer_times(measured.pop("layers_ms"), table)
            section["latency"] = measured
            section["slowest_layers"] = layers[:TOP_LAYERS]
            metrics = {"trt_with_copies_p50_ms": measured["with_copies"]["p50_ms"],
                       "trt_device_p50_ms": measured["device_only"]["p50_ms"],
                       "trt_device_graph_p50_ms": measured["device_only_graph"]["p50_ms"]}
        record = {"tensorrt_version": outcome["tensorrt_version"], "build_path": settings.path_description,
                  "typing": settings.typing, "settings": settings.to_dict(), "timing_cache": outcome["timing_cache"],
                  "gpu": section["gpu"], "log": BUILD_LOG}
        artifact = RuntimeArtifact(path=engine, backend="tensorrt", sidecar=sidecar_path, precision=settings.precision)
        return PassResult(artifact, record=record, report={"tensorrt": section}, metrics=metrics,
                          warnings=warnings + list(outcome.get("warnings", [])))


def _analyze_rows(source: OnnxModel, settings: TrtBuildSettings, warnings: list[str]) -> list[dict[str, Any]] | None:
    """The ``analyze`` per-node counts of the ONNX graph at the profiled (opt) batch, to join with layer times."""
    batch = settings.shapes[0].opt[0] if settings.shapes and settings.shapes[0].opt else 1
    try:
        rows: list[dict[str, Any]] = analyze(AnalyzeRequest(model=source.path, batch=batch)).to_dict()["layers"]
    except CompileError as err:
        warnings.append(f"per-layer times are not joined with analyze counts: {err}")
        return None
    return rows


def graph_precision(model: onnx.ModelProto) -> str:
    """What precision the graph itself carries: explicit Q/DQ -> int8, float16 tensors or casts -> fp16."""
    ops = {node.op_type for node in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear"}:
        return "int8"
    if any(init.data_type == FLOAT16 for init in model.graph.initializer):
        return "fp16"
    for node in model.graph.node:
        if node.op_type == "Cast" and any(attr.name == "to" and attr.i == FLOAT16 for attr in node.attribute):
            return "fp16"
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    if any(v.type.tensor_type.elem_type == FLOAT16 for v in values):
        return "fp16"
    return "fp32"
