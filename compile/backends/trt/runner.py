"""Run a TensorRT engine: inference for validate/benchmark, device-only latency with CUDA graphs, per-layer times.

The runner drives the TensorRT API directly (so mypy checks it against the TensorRT stubs); device memory,
streams, copies, events and CUDA graphs go through ``polygraphy.cuda`` (``cuda.py``), so no CUDA build of
torch is needed (Jetson has none on PyPI). Where each tensor lives is planned in ``tensors.py``: shape-tensor
inputs stay on the host, data-dependent outputs get an output allocator. Before anything is deserialized the
compatibility guard compares the engine's sidecar with this machine; TensorRT's plugins are registered
first, as a plan may name them.

Three latencies are measured by :func:`profile_engine`: with host-device copies (what an application
sees), device-only (inputs already on the GPU), and device-only replayed from a CUDA graph when capture
works. Per-layer times come from an ``IProfiler`` and are joined with the ``analyze`` table when there is one.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compile.artifacts import RuntimeArtifact
from compile.backends.base import Runner
from compile.backends.trt.builder import init_plugins
from compile.backends.trt.compat import check_compatible, local_target
from compile.backends.trt.cuda import Cuda, CudaError
from compile.backends.trt.detect import tensorrt_installed, tensorrt_version
from compile.backends.trt.sidecar import Binding, read_sidecar
from compile.backends.trt.tensors import Binding as ContextBinding
from compile.backends.trt.tensors import TensorIO, plan_io
from compile.errors import MissingDependencyError, PassError, UserInputError
from compile.hashing import hash_file

if TYPE_CHECKING:
    import tensorrt as trt

#: File names the ``analyze`` stage may leave in the run directory (a list of rows, or {"layers": [...]}).
ANALYZE_TABLES = ("analyze.json", "analysis.json")


def is_available() -> bool:
    return tensorrt_installed()


def version() -> str:
    found = tensorrt_version()
    if found is None:
        raise MissingDependencyError("tensorrt", "running a TensorRT engine", extra="trt")
    return found


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
    """Runs ``engine_path`` as its ``sidecar`` describes. ``guard``: compare the sidecar with this machine
    first (off only for the build worker, which profiles the engine it has just built on this GPU)."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, sidecar: dict[str, Any], guard: bool = True) -> None:
        super().__init__()
        self.engine_path = engine_path
        self.sidecar = sidecar
        self.guard = guard
        self.warnings: list[str] = []
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._cuda: Cuda | None = None
        self._stream: Any = None
        self._io: list[TensorIO] = []
        self._bindings: list[ContextBinding] = []
        self._logger: trt.ILogger | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def activate_impl(self) -> None:
        target = local_target() if self.guard else None
        if target is not None and (target.tensorrt_version is None or target.gpu_name is None):
            check_compatible(self.sidecar, target, self.engine_path.name)  # raises, naming what is missing
        expected = self.sidecar.get("engine_sha256")
        if expected and hash_file(self.engine_path) != expected:
            raise UserInputError(f"{self.engine_path.name} does not match its sidecar (engine_sha256 differs): "
                                 "the sidecar describes another engine")
        import tensorrt as trt

        self._logger = trt.Logger(trt.Logger.WARNING)
        init_plugins(self._logger)
        runtime = trt.Runtime(self._logger)
        if target is not None:
            self.warnings = check_compatible(self.sidecar, replace(target, dla_cores=int(runtime.num_DLA_cores)),
                                             self.engine_path.name)
        dla_core = self.sidecar.get("dla_core")
        if dla_core is not None:
            runtime.DLA_core = int(dla_core)
        if self.sidecar.get("compatibility", {}).get("version_compatible"):
            # The plan carries its own lean runtime; only plans this tool built are loaded this way.
            runtime.engine_host_code_allowed = True
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise PassError(f"TensorRT could not deserialize {self.engine_path.name}")
        self._engine = engine
        self._context = engine.create_execution_context()
        self._cuda = Cuda()
        self._stream = self._cuda.stream()
        self._io = plan_io(engine)

    def deactivate_impl(self) -> None:
        for binding in self._bindings:
            binding.free()
        self._bindings.clear()
        if self._stream is not None:
            self._stream.free()
        self._context = None
        self._engine = None
        self._stream = None

    def input_names_impl(self) -> list[str]:
        return [t.name for t in self._io if t.mode == "input"]

    def output_names_impl(self) -> list[str]:
        return [t.name for t in self._io if t.mode == "output"]

    @property
    def io(self) -> list[TensorIO]:
        """The engine's I/O tensors and where each one lives (see ``tensors.py``)."""
        return list(self._io)

    # -- execution -------------------------------------------------------------------------------------
    def binding(self) -> ContextBinding:
        """A fresh binding (device buffers, output allocator) freed with the runner."""
        binding = ContextBinding(self._require_cuda())
        self._bindings.append(binding)
        return binding

    def bind(self, context: trt.IExecutionContext, feed: dict[str, np.ndarray],
             binding: ContextBinding | None = None) -> ContextBinding:
        """Bind ``feed`` and the outputs to ``context`` (inputs copied on the runner's stream)."""
        binding = binding or self.binding()
        binding.bind(context, self._io, feed, self._stream_ptr(), self.engine_path.name)
        return binding

    def execute(self, context: trt.IExecutionContext) -> None:
        if not context.execute_async_v3(self._stream_ptr()):
            raise PassError(f"TensorRT failed to run {self.engine_path.name} (execute_async_v3 returned false)")

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        context = self._require_context()
        if not self._bindings:
            self.binding()
        binding = self.bind(context, feed, self._bindings[0])
        self.execute(context)
        return binding.fetch(self._io, self._stream_ptr())

    # -- measurement -----------------------------------------------------------------------------------
    def device_latency(self, feed: dict[str, np.ndarray], warmup: int, iterations: int,
                       cuda_graph: bool) -> dict[str, Any]:
        """Milliseconds per run with inputs already on the GPU, timed with CUDA events; replayed from a CUDA
        graph when ``cuda_graph`` and capture succeeds (the reason is recorded when it does not)."""
        context, cuda, stream = self._require_context(), self._require_cuda(), self._stream_ptr()
        binding = self.bind(context, feed)
        self.execute(context)  # the first enqueue after a shape change must happen outside capture
        cuda.synchronize(stream)
        graph: int | None = None
        graph_note = "not requested"
        if cuda_graph and binding.data_dependent:
            graph_note = f"not captured: data-dependent output shapes ({', '.join(binding.data_dependent)})"
        elif cuda_graph:
            capturing = False
            try:
                cuda.begin_capture(stream)
                capturing = True
                self.execute(context)
                capturing = False
                graph = cuda.end_capture(stream)
                graph_note = "captured"
            except (CudaError, PassError) as err:
                if capturing:
                    try:
                        cuda.destroy_graph(cuda.end_capture(stream))
                    except CudaError:
                        pass
                graph, graph_note = None, f"capture failed: {(str(err).splitlines() or [type(err).__name__])[0]}"
                cuda.synchronize(stream)
        captured = graph

        def step() -> None:
            if captured is not None:
                cuda.launch(captured, stream)
            else:
                self.execute(context)

        try:
            times = _time_events(cuda, step, stream, warmup, iterations)
        finally:
            if captured is not None:
                cuda.destroy_graph(captured)
        return {"cuda_graph": captured is not None, "cuda_graph_note": graph_note, **_summary(times)}

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
        engine, cuda = self._require_engine(), self._require_cuda()
        context = engine.create_execution_context()
        profiler = make_layer_profiler()
        context.profiler = profiler
        binding = self.bind(context, feed)
        for _ in range(iterations):
            self.execute(context)
            cuda.synchronize(self._stream_ptr())
        binding.free()
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

    def _require_cuda(self) -> Cuda:
        if self._cuda is None:
            raise RuntimeError(f"{self.name} is not active")
        return self._cuda

    def _stream_ptr(self) -> int:
        if self._stream is None:
            raise RuntimeError(f"{self.name} is not active")
        return int(self._stream.ptr)


def _time_events(cuda: Cuda, step: Any, stream: int, warmup: int, iterations: int) -> list[float]:
    for _ in range(warmup):
        step()
    cuda.synchronize(stream)
    start, end = cuda.event(), cuda.event()
    try:
        times = []
        for _ in range(iterations):
            cuda.record(start, stream)
            step()
            cuda.record(end, stream)
            times.append(cuda.elapsed_ms(start, end))
    finally:
        cuda.destroy_event(start)
        cuda.destroy_event(end)
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
                   iterations: int = 50, cuda_graph: bool = True, layer_iterations: int = 10,
                   dla_core: int | None = None) -> dict[str, Any]:
    """Latency at the opt shape with and without host-device copies (CUDA graph when possible) and
    per-layer times; run by the build worker on the GPU that built the engine (no guard: it is this GPU)."""
    sidecar = {"runtime": "tensorrt", "tensorrt_version": None, "gpu": {}, "dla_core": dla_core,
               "compatibility": {"hardware": "none", "version_compatible": version_compatible}}
    feed = opt_feed(bindings)
    runner = TrtRunner(engine_path, sidecar, guard=False)
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


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> TrtRunner:
    """A runner for an engine artifact (``threads`` does not apply to GPU execution). Engines made for ONNX
    Runtime's TensorRT/CUDA providers are run by :mod:`compile.backends.ort.gpu` (``compile.backends.RUNTIMES``)."""
    if artifact.sidecar is None:
        raise UserInputError(f"{artifact.path.name} has no sidecar; the engine cannot be checked or run without it")
    sidecar = read_sidecar(artifact.sidecar)
    if sidecar["runtime"] != "tensorrt":
        raise UserInputError(f"{artifact.path.name} is an engine for {sidecar['runtime']}, not for the TensorRT runtime")
    return TrtRunner(artifact.path, sidecar)
