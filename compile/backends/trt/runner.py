"""Run a TensorRT engine: inference for validate/benchmark, device-only latency with CUDA graphs, per-layer times.

The runner drives the TensorRT API directly (so mypy checks it against the TensorRT stubs) and uses
torch's CUDA allocator, streams, events and graphs for device memory and timing. Before anything is
deserialized the compatibility guard compares the engine's sidecar with this machine.

Three latencies are measured by :func:`profile_engine`: with host-device copies (what an application
sees), device-only (inputs already on the GPU), and device-only replayed from a CUDA graph when capture
works. Per-layer times come from an ``IProfiler`` and are joined with the ``analyze`` table when there is one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compile.backends.base import Runner
from compile.backends.trt.sidecar import Binding
from compile.errors import MissingDependencyError, PassError, UserInputError

if TYPE_CHECKING:
    import tensorrt as trt
    import torch

    from compile.artifacts import RuntimeArtifact

#: File names the ``analyze`` stage may leave in the run directory (a list of rows, or {"layers": [...]}).
ANALYZE_TABLES = ("analyze.json", "analysis.json")


def is_available() -> bool:
    from compile.backends.trt.detect import tensorrt_installed

    return tensorrt_installed()


def version() -> str:
    from compile.backends.trt.detect import tensorrt_version

    found = tensorrt_version()
    if found is None:
        raise MissingDependencyError("tensorrt", "running a TensorRT engine", extra="trt")
    return found


def torch_dtype(dtype: trt.DataType) -> torch.dtype:
    import tensorrt as trt
    import torch

    table = {
        trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.BF16: torch.bfloat16,
        trt.DataType.INT8: torch.int8, trt.DataType.INT32: torch.int32, trt.DataType.INT64: torch.int64,
        trt.DataType.BOOL: torch.bool, trt.DataType.UINT8: torch.uint8,
    }
    if dtype not in table:
        raise PassError(f"engine tensor type {dtype.name} has no torch equivalent")
    return table[dtype]


def make_layer_profiler() -> Any:
    """An ``IProfiler`` that accumulates milliseconds per layer name."""
    import tensorrt as trt

    class LayerTimes(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.times: dict[str, list[float]] = {}

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.times.setdefault(layer_name, []).append(ms)

    return LayerTimes()


class TrtRunner(Runner):
    name = "tensorrt"

    def __init__(self, engine_path: Path, sidecar: dict[str, Any]) -> None:
        super().__init__()
        self.engine_path = engine_path
        self.sidecar = sidecar
        self.warnings: list[str] = []
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._stream: torch.cuda.Stream | None = None
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        self._logger: trt.ILogger | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def activate_impl(self) -> None:
        from compile.backends.trt.compat import check_compatible, local_target

        self.warnings = check_compatible(self.sidecar, local_target(), self.engine_path.name)
        expected = self.sidecar.get("engine_sha256")
        if expected:
            from compile.hashing import hash_file

            if hash_file(self.engine_path) != expected:
                raise UserInputError(f"{self.engine_path.name} does not match its sidecar (engine_sha256 differs): "
                                     "the sidecar describes another engine")
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise UserInputError("running a TensorRT engine needs a CUDA device visible to torch")
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        if self.sidecar.get("compatibility", {}).get("version_compatible"):
            # The plan carries its own lean runtime; only plans this tool built are loaded this way.
            runtime.engine_host_code_allowed = True
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise PassError(f"TensorRT could not deserialize {self.engine_path.name}")
        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    def deactivate_impl(self) -> None:
        self._context = None
        self._engine = None
        self._stream = None

    def input_names_impl(self) -> list[str]:
        return list(self._inputs)

    def output_names_impl(self) -> list[str]:
        return list(self._outputs)

    # -- execution -------------------------------------------------------------------------------------
    def to_device(self, feed: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        import torch

        engine, stream = self._require_engine(), self._require_stream()
        # Copies and allocations go on the runner's stream, the one TensorRT executes on.
        with torch.cuda.stream(stream):
            return {name: torch.from_numpy(np.ascontiguousarray(array)).to("cuda").to(torch_dtype(engine.get_tensor_dtype(name)))
                    for name, array in feed.items()}

    def bind(self, context: trt.IExecutionContext, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Set input shapes and addresses on ``context``; allocate and bind outputs of the resulting shapes.
        The caller keeps ``inputs`` and the returned outputs alive while the context may run."""
        import torch

        engine, stream = self._require_engine(), self._require_stream()
        for name, tensor in inputs.items():
            if not context.set_input_shape(name, list(tensor.shape)):
                raise UserInputError(f"{self.engine_path.name}: input '{name}' shape {tuple(tensor.shape)} is outside "
                                     "the engine's optimization profile")
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self._outputs:
            dims = context.get_tensor_shape(name)
            shape = [int(dims[i]) for i in range(len(dims))]
            with torch.cuda.stream(stream):
                outputs[name] = torch.empty(shape, dtype=torch_dtype(engine.get_tensor_dtype(name)), device="cuda")
            context.set_tensor_address(name, outputs[name].data_ptr())
        return outputs

    def execute(self, context: trt.IExecutionContext) -> None:
        stream = self._require_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise PassError(f"TensorRT failed to run {self.engine_path.name} (execute_async_v3 returned false)")

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        context = self._require_context()
        inputs = self.to_device(feed)
        outputs = self.bind(context, inputs)
        self.execute(context)
        self._require_stream().synchronize()
        return {name: tensor.float().cpu().numpy() if tensor.dtype.is_floating_point else tensor.cpu().numpy()
                for name, tensor in outputs.items()}

    # -- measurement -----------------------------------------------------------------------------------
    def device_latency(self, feed: dict[str, np.ndarray], warmup: int, iterations: int,
                       cuda_graph: bool) -> dict[str, Any]:
        """Milliseconds per run with inputs already on the GPU, timed with CUDA events; replayed from a CUDA
        graph when ``cuda_graph`` and capture succeeds (the reason is recorded when it does not)."""
        import torch

        context, stream = self._require_context(), self._require_stream()
        inputs = self.to_device(feed)
        outputs = self.bind(context, inputs)
        self.execute(context)  # the first enqueue after a shape change must happen outside capture
        stream.synchronize()
        graph: torch.cuda.CUDAGraph | None = None
        graph_note = "not requested"
        if cuda_graph:
            try:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=stream):
                    self.execute(context)
                graph_note = "captured"
            except (RuntimeError, PassError) as err:
                graph, graph_note = None, f"capture failed: {(str(err).splitlines() or [type(err).__name__])[0]}"
                stream.synchronize()
        captured = graph

        def step() -> None:
            if captured is not None:
                captured.replay()
            else:
                self.execute(context)

        times = _time_events(step, stream, warmup, iterations)
        used_graph = captured is not None
        del inputs, outputs
        return {"cuda_graph": used_graph, "cuda_graph_note": graph_note, **_summary(times)}

    def host_latency(self, feed: dict[str, np.ndarray], warmup: int, iterations: int) -> dict[str, Any]:
        """Milliseconds per ``infer`` call: host-to-device copies, execution, device-to-host copies."""
        for _ in range(warmup):
            self.infer_impl(feed)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            self.infer_impl(feed)
            times.append((time.perf_counter() - start) * 1000.0)
        return _summary(times)

    def layer_times(self, feed: dict[str, np.ndarray], iterations: int) -> dict[str, float]:
        """Mean milliseconds per engine layer over ``iterations`` profiled runs (a separate context, no graph)."""
        engine, stream = self._require_engine(), self._require_stream()
        context = engine.create_execution_context()
        profiler = make_layer_profiler()
        context.profiler = profiler
        inputs = self.to_device(feed)
        outputs = self.bind(context, inputs)
        for _ in range(iterations):
            self.execute(context)
            stream.synchronize()
        del inputs, outputs
        return {name: float(np.mean(values)) for name, values in profiler.times.items()}

    # -- state -----------------------------------------------------------------------------------------
    def _require_engine(self) -> trt.ICudaEngine:
        if self._engine is None:
            raise RuntimeError(f"{self.name} is not active")
        return self._engine

    def _require_context(self) -> trt.IExecutionContext:
        if self._context is None:
            raise RuntimeError(f"{self.name} is not active")
        return self._context

    def _require_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            raise RuntimeError(f"{self.name} is not active")
        return self._stream


def _time_events(step: Any, stream: torch.cuda.Stream, warmup: int, iterations: int) -> list[float]:
    import torch

    with torch.cuda.stream(stream):
        for _ in range(warmup):
            step()
        stream.synchronize()
        times = []
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            step()
            end.record(stream)
            end.synchronize()
            times.append(float(start.elapsed_time(end)))
    return times


def _summary(times_ms: list[float]) -> dict[str, Any]:
    values = np.asarray(times_ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(values, 50)), "p90_ms": float(np.percentile(values, 90)),
            "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean()), "min_ms": float(values.min()),
            "iterations": int(values.size)}


def opt_feed(bindings: list[Binding], seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs at each input's optimization-profile ``opt`` shape."""
    rng = np.random.default_rng(seed)
    feed = {}
    for binding in bindings:
        if binding.mode != "input":
            continue
        shape = binding.opt or tuple(max(d, 1) for d in binding.shape)
        if binding.dtype.startswith(("float", "bfloat")):
            feed[binding.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            feed[binding.name] = rng.integers(0, 2, size=shape).astype(binding.dtype if binding.dtype != "bool" else "bool")
    return feed


def profile_engine(engine_path: Path, bindings: list[Binding], version_compatible: bool, warmup: int = 10,
                   iterations: int = 50, cuda_graph: bool = True, layer_iterations: int = 10) -> dict[str, Any]:
    """Latency at the opt shape with and without host-device copies (CUDA graph when possible) and
    per-layer times; run by the build worker on the GPU that built the engine."""
    sidecar = {"runtime": "tensorrt", "tensorrt_version": None, "gpu": {},
               "compatibility": {"hardware": "none", "version_compatible": version_compatible}}
    feed = opt_feed(bindings)
    runner = TrtRunner(engine_path, sidecar)
    with runner:
        return {
            "shapes": {name: list(array.shape) for name, array in feed.items()},
            "with_copies": runner.host_latency(feed, warmup, iterations),
            "device_only": runner.device_latency(feed, warmup, iterations, cuda_graph=False),
            "device_only_graph": runner.device_latency(feed, warmup, iterations, cuda_graph=cuda_graph),
            "layers_ms": runner.layer_times(feed, layer_iterations),
        }


def _trt_layer_parts(layer_name: str) -> list[str]:
    """ONNX node names inside a TensorRT layer name ("conv + relu", "PWN(relu, add)", "Reformatting ...")."""
    text = layer_name
    for wrapper in ("PWN(", "ForeignNode[", "{ForeignNode["):
        text = text.replace(wrapper, " + ")
    for closing in (")", "]", "}"):
        text = text.replace(closing, " ")
    parts = []
    for piece in text.replace("..", " + ").replace(",", " + ").split(" + "):
        piece = piece.strip()
        if piece:
            parts.append(piece)
    return parts


def join_layer_times(layer_ms: dict[str, float], analyze_rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Engine layers by time (share of the total), each with the ``analyze`` rows of the ONNX nodes it fused."""
    total = sum(layer_ms.values()) or 1.0
    by_node = {str(row.get("name")): row for row in analyze_rows or [] if row.get("name")}
    joined = []
    for layer, ms in sorted(layer_ms.items(), key=lambda item: -item[1]):
        nodes = [part for part in _trt_layer_parts(layer) if part in by_node]
        entry: dict[str, Any] = {"layer": layer, "ms": ms, "share_pct": 100.0 * ms / total}
        if analyze_rows is not None:
            entry["onnx_nodes"] = nodes
            entry["analyze"] = [by_node[n] for n in nodes]
        joined.append(entry)
    return joined


def read_analyze_table(run_dir: Path) -> list[dict[str, Any]] | None:
    """The ``analyze`` stage's per-node table if the run has one: a JSON list of rows with a ``name``
    (the ONNX node), or an object whose ``layers`` or ``nodes`` is such a list."""
    for name in ANALYZE_TABLES:
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if isinstance(data, dict):
            data = data.get("layers") or data.get("nodes")
        if isinstance(data, list):
            return [row for row in data if isinstance(row, dict)]
    return None


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> Runner:
    """A runner for an engine artifact: the TensorRT API, or ONNX Runtime's TensorRT/CUDA providers when the
    artifact was made for ``onnxruntime-gpu``. ``threads`` does not apply to GPU execution."""
    from compile.backends.trt.sidecar import read_sidecar

    if artifact.sidecar is None:
        raise UserInputError(f"{artifact.path.name} has no sidecar; the engine cannot be checked or run without it")
    sidecar = read_sidecar(artifact.sidecar)
    if sidecar["runtime"] == "onnxruntime-gpu":
        from compile.backends.trt.ort_gpu import OrtGpuRunner

        return OrtGpuRunner(artifact.path, sidecar)
    return TrtRunner(artifact.path, sidecar)
