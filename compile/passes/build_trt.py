"""build-trt: the TensorRT engine for a GPU profile, built in a subprocess, with a sidecar and the build log.

What to build is decided in plain Python (``compile.backends.trt.settings``: precision path, memory pools,
optimization profile, sparsity, DLA, compatibility, timing cache); the build itself runs in a child
process (``compile.backends.trt.build_worker``) whose TensorRT log goes to ``trt-build.log`` in the run
directory. The engine is written with a sidecar JSON (TensorRT version, GPU, profile, bindings, ONNX hash,
compatibility flags) that the runner's compatibility guard and the Triton packager read.

With ``runtime = "onnxruntime-gpu"`` the same settings become ONNX Runtime TensorRT/CUDA execution
provider options instead (needs onnxruntime-gpu, not the tensorrt package).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from compile.artifacts import ONNX, RUNTIME, Artifact, OnnxModel, RuntimeArtifact
from compile.errors import MissingDependencyError
from compile.onnx_io import graph_input_specs as graph_inputs
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

if TYPE_CHECKING:
    import onnx

    from compile.backends.trt.detect import LocalGpu
    from compile.models.spec import InputSpec

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
        from compile.backends.trt.detect import local_gpu, tensorrt_version

        profile = ctx.profile
        gpu = local_gpu() if self.options.runtime == "tensorrt" else None
        return {
            "profile": profile.name,
            "hardware": profile.hardware.model_dump(mode="json"),
            "build": profile.build.model_dump(mode="json"),
            "shapes": profile.shapes.model_dump(mode="json"),
            "precision": ctx.settings.precision,
            "sparsity": ctx.settings.sparsity,
            "tensorrt": tensorrt_version() if self.options.runtime == "tensorrt" else None,
            "gpu": [gpu.name, gpu.compute_capability, gpu.jetson_module, gpu.machine] if gpu else None,
        }

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from compile.backends.trt.detect import (
            gpu_matches,
            local_gpu,
            profile_mismatch,
            require_tensorrt,
            tensorrt_version,
            timing_cache_path,
        )
        from compile.backends.trt.settings import build_settings
        from compile.onnx_io import load_onnx

        source = self.input(inputs, ONNX, OnnxModel)
        profile = ctx.profile
        if self.options.runtime == "tensorrt":
            version = require_tensorrt(profile.name)
        else:
            from compile.backends.trt.ort_gpu import gpu_providers_available

            if not gpu_providers_available():
                raise MissingDependencyError("onnxruntime-gpu", f"ONNX Runtime's TensorRT/CUDA providers for profile "
                                             f"'{profile.name}'", extra="gpu")
            version = tensorrt_version() or f"{profile.hardware.tensorrt_major or 10}"
        gpu = local_gpu()
        if gpu is None:
            raise self.fail(f"no NVIDIA GPU found: a TensorRT engine for '{profile.name}' is built on the GPU it runs on")
        mismatch = profile_mismatch(profile, gpu)
        if mismatch is not None:
            raise self.fail(f"{mismatch}: an engine is built on the GPU it runs on (use this GPU's profile)")
        model = load_onnx(source.path, load_external_data=False)
        detected = graph_precision(model)
        carried = source.precision if source.precision != "fp32" else detected
        precision = ctx.precision  # resolved once, by the driver
        sparsity = ctx.settings.sparsity if ctx.settings.sparsity != "dense" else source.sparsity
        # On a Jetson CUDA's name is "Orin" for every module: the module names the cache.
        cache = timing_cache_path(gpu.jetson_module or gpu.name, gpu.compute_capability, version)
        settings, warnings = build_settings(profile, precision=precision, graph_precision=carried, sparsity=sparsity,
                                            tensorrt_version=version, inputs=graph_inputs(model), timing_cache=str(cache),
                                            memory_pools_mb=self.options.memory_pools_mb)
        if profile.hardware.gpu_match and gpu_matches(profile.hardware.gpu_match, gpu) is None:
            warnings.append(f"profile '{profile.name}' is for {profile.hardware.name}, this GPU is {gpu.description}: "
                            "same compute capability, so it builds, tuned for this GPU")
        ctx.log(f"  {settings.path_description}")
        if self.options.runtime == "onnxruntime-gpu":
            return self._ort_gpu(source, ctx, settings, gpu, warnings)
        return self._tensorrt(source, ctx, settings, gpu, warnings)

    def _tensorrt(self, source: OnnxModel, ctx: PassContext, settings: Any, gpu: LocalGpu, warnings: list[str]) -> PassResult:
        from compile.backends.trt.build_worker import run_in_subprocess
        from compile.backends.trt.runner import join_layer_times, read_analyze_table
        from compile.backends.trt.sidecar import Binding, make_sidecar, write_sidecar
        from compile.hashing import hash_file

        profile = ctx.profile
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
        result = run_in_subprocess(job, ctx.work_dir / "trt-job.json", log_path, self.options.timeout_s)
        outcome = result["outcome"]
        bindings = [Binding.from_dict(b) for b in outcome["bindings"]]
        sidecar = make_sidecar(
            runtime="tensorrt", tensorrt_version=outcome["tensorrt_version"], gpu_name=gpu.name,
            compute_capability=gpu.compute_capability, profile=profile.name, hardware=profile.hardware.name,
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

    def _ort_gpu(self, source: OnnxModel, ctx: PassContext, settings: Any, gpu: LocalGpu, warnings: list[str]) -> PassResult:
        from compile.backends.trt.detect import timing_cache_path
        from compile.backends.trt.ort_gpu import provider_options
        from compile.backends.trt.sidecar import Binding, make_sidecar, write_sidecar

        out = ctx.output_path(ORT_MODEL_FILE)
        shutil.copyfile(source.path, out)
        data = source.path.with_name(source.path.name + ".data")
        if data.is_file():
            shutil.copyfile(data, out.with_name(out.name + ".data"))
        cache_dir = timing_cache_path(gpu.jetson_module or gpu.name, gpu.compute_capability, "ort").parent / "ort-engines"
        providers = provider_options(settings, cache_dir)
        bindings = [Binding(s.name, "input", tuple(-1 if isinstance(d, str) else d for d in spec.shape), spec.dtype,
                            s.min, s.opt, s.max)
                    for s, spec in zip(settings.shapes, _inputs_of(source), strict=True)]
        sidecar = make_sidecar(
            runtime="onnxruntime-gpu", tensorrt_version=None, gpu_name=gpu.name, compute_capability=gpu.compute_capability,
            profile=ctx.profile.name, hardware=ctx.profile.hardware.name, precision=settings.precision,
            sparsity="2:4" if settings.sparse_weights else "dense", bindings=bindings, onnx_sha256=source.content_hash(),
            engine_sha256=None, hardware_compatibility="none", version_compatible=False,
            build_path=f"ONNX Runtime TensorRT/CUDA execution providers ({settings.path_description})",
            builder=settings.to_dict(), dla_core=settings.dla_core, extra={"providers": providers},
            platform={"machine": gpu.machine, "jetson_module": gpu.jetson_module},
        )
        sidecar_path = ctx.output_path(ORT_SIDECAR_FILE)
        write_sidecar(sidecar_path, sidecar)
        artifact = RuntimeArtifact(path=out, backend="tensorrt", sidecar=sidecar_path, precision=settings.precision)
        record = {"runtime": "onnxruntime-gpu", "providers": [name for name, _ in providers], "settings": settings.to_dict()}
        return PassResult(artifact, record=record, report={"tensorrt": {"build_path": sidecar["build_path"]}},
                          warnings=warnings)


def _analyze_rows(source: OnnxModel, settings: Any, warnings: list[str]) -> list[dict[str, Any]] | None:
    """The ``analyze`` per-node counts of the ONNX graph at the profiled (opt) batch, to join with layer times."""
    from compile.errors import CompileError

    try:
        from compile.analyze.api import AnalyzeRequest, analyze
    except ImportError:
        return None
    batch = settings.shapes[0].opt[0] if settings.shapes and settings.shapes[0].opt else 1
    try:
        rows: list[dict[str, Any]] = analyze(AnalyzeRequest(model=source.path, batch=batch)).to_dict()["layers"]
    except CompileError as err:
        warnings.append(f"per-layer times are not joined with analyze counts: {err}")
        return None
    return rows


def _inputs_of(source: OnnxModel) -> list[InputSpec]:
    from compile.onnx_io import load_onnx

    return graph_inputs(load_onnx(source.path, load_external_data=False))




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
