"""build-openvino: the ONNX model as OpenVINO IR, compiled once for the device so later loads hit the cache.

Writes ``model.ov.xml`` (+ ``model.ov.xml.data``, FP32 weights) and ``model.ov.xml.compile.json``, the sidecar:
what built it (OpenVINO release, device, CPU instruction set), the settings every runner compiles with
(performance hint, inference precision, threads), the weights' SHA-256 and the bindings. Compiling here
fills OpenVINO's compiled-model cache (``$COMPILE_CACHE_DIR/openvino``), so validate and benchmark load
the compiled blob; the record shows both compile times (the second from the cache), and which precision
each compute layer runs in (an INT8 Q/DQ graph should show ``u8``/``i8`` convolutions).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compile.artifacts import ONNX, RUNTIME, Artifact, OnnxModel, RuntimeArtifact, sidecar_name
from compile.backends.openvino import builder
from compile.backends.openvino.runner import compiled_model_cache
from compile.backends.ort.hardware import cpu_isa
from compile.fsutil import write_json_atomic
from compile.hashing import hash_file
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

OUTPUT_FILE = "model.ov.xml"
SIDECAR_FILE = sidecar_name(OUTPUT_FILE)
INT8_PRECISIONS = ("u8", "i8")


class BuildOpenVinoOptions(PassOptions):
    #: The profile's name, for the message when OpenVINO is not installed (compile/drivers/options.py sets it).
    profile: str | None = None
    #: An OpenVINO device name: "CPU", "GPU", "GPU.1".
    device: str = "CPU"
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    #: CPU threads per inference; unset: every usable CPU.
    threads: int | None = Field(default=None, ge=1)
    #: Precision of float layers. "f32" keeps FP32 what FP32 says; "bf16" is about 2x faster on CPUs with
    #: AVX-512 BF16 or AMX and loses mantissa; "device-default" takes the plugin's choice (BF16 there).
    inference_precision: Literal["f32", "bf16", "f16", "device-default"] = "f32"


class BuildOpenVinoPass(Pass):
    name = "build-openvino"
    description = "Convert the ONNX model to OpenVINO IR and compile it for the device (compiled-model cache filled)."
    consumes = (ONNX,)
    produces = RUNTIME
    Options = BuildOpenVinoOptions
    options: BuildOpenVinoOptions

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        try:
            version: str | None = builder.openvino_version()
        except ImportError:
            version = None  # run() says what to install
        return {"openvino": version, "isa": cpu_isa()}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        o = self.options
        builder.require_openvino(f"{self.name} (profile '{o.profile}')" if o.profile else self.name)
        source = self.input(inputs, ONNX, OnnxModel)
        core = builder.make_core(compiled_model_cache(ctx.run_dir / ".openvino-cache"))
        builder.check_device(core, o.device)
        version = builder.openvino_version()
        xml = ctx.output_path(OUTPUT_FILE)
        source_sha = source.content_hash()
        model = builder.convert_onnx(source.path, xml, {"source_onnx_sha256": source_sha, "openvino_version": version})
        # Compile from the saved IR, as every runner will, so the cache entry is the one they look up.
        config = builder.compile_config(o.device, o.performance_hint, o.inference_precision, o.threads)
        compiled, cold_s = builder.timed_compile(core, builder.read_ir(core, xml), o.device, config, xml.name)
        precisions = builder.runtime_precisions(compiled)
        first_from_cache = builder.loaded_from_cache(compiled)  # the same IR built before: already cached
        del compiled
        again, cached_s = builder.timed_compile(core, builder.read_ir(core, xml), o.device, config, xml.name)
        from_cache = builder.loaded_from_cache(again)
        del again
        weights = builder.weights_path(xml)
        sidecar = {
            "backend": "openvino",
            "openvino_version": version,
            "device": o.device,
            "device_name": str(core.get_property(o.device, "FULL_DEVICE_NAME")),
            "isa": cpu_isa() if builder.device_family(o.device) == "CPU" else None,
            "performance_hint": o.performance_hint,
            "inference_precision": o.inference_precision,
            "threads": o.threads,
            "weights_file": weights.name,
            "weights_sha256": hash_file(weights),
            "source_onnx_sha256": source_sha,
            "precision": source.precision,
            "sparsity": source.sparsity,
            "inputs": [b.to_dict() for b in builder.bindings(model.inputs)],
            "outputs": [b.to_dict() for b in builder.bindings(model.outputs)],
        }
        sidecar_path = ctx.output_path(SIDECAR_FILE)
        write_json_atomic(sidecar_path, sidecar)
        section = {"version": builder.release(version), "device": o.device, "device_name": sidecar["device_name"],
                   "performance_hint": o.performance_hint, "inference_precision": o.inference_precision,
                   "threads": config.get("INFERENCE_NUM_THREADS"), "compile_seconds": round(cold_s, 3),
                   "compile_was_cached": first_from_cache, "compile_seconds_cached": round(cached_s, 3),
                   "cache_hit_after_build": from_cache,
                   "runtime_precisions": precisions}
        warnings = []
        if source.precision == "int8" and not any(p in INT8_PRECISIONS for counts in precisions.values() for p in counts):
            warnings.append("the graph is INT8 (Q/DQ) but OpenVINO runs none of its compute layers in INT8")
        ctx.log(f"  OpenVINO {section['version']} on {o.device}: compiled in {cold_s:.2f}s{' (cached before)' if first_from_cache else ''}, "
                f"{cached_s:.2f}s from its cache; "
                f"compute layers by precision {precisions}")
        artifact = RuntimeArtifact(path=xml, backend="openvino", sidecar=sidecar_path, precision=source.precision)
        return PassResult(artifact, record={"sidecar": sidecar, **section}, report={"openvino": section}, warnings=warnings)
