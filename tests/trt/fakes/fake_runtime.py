"""The fake runtime, engine and execution context: deserialization compares the plan's version, device,
platform, plugins and DLA core with this machine's (None and a logged error on a mismatch, as TensorRT);
execution runs the ONNX graph with ONNX Runtime on the fake CUDA's memory, reading shape tensors from
host memory and every other tensor from device memory, and writing data-dependent outputs only through an
``IOutputAllocator``. The fake also refuses to capture an enqueue that follows a shape change (TensorRT's
CUDA-graph guidance: enqueue once before capturing) and, conservatively, one with an output allocator."""

from __future__ import annotations

import ctypes
import json
from typing import Any

import numpy as np

from tests.trt.fakes.fake_api import (
    NUMPY_TYPES,
    PLAN_MAGIC,
    Api,
    Dims,
    ILogger,
    IOutputAllocator,
    version_key,
)


def read_plan(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """The fake plan's header and ONNX bytes, or None when ``data`` is not a fake plan."""
    if not data.startswith(PLAN_MAGIC):
        return None
    start = len(PLAN_MAGIC)
    size = int.from_bytes(data[start:start + 8], "little")
    header = json.loads(data[start + 8:start + 8 + size])
    return header, data[start + 8 + size:]


class Runtime(Api):
    _api = "Runtime"

    def __init__(self, logger: ILogger) -> None:
        logger._require_init()
        object.__setattr__(self, "_logger", logger)
        object.__setattr__(self, "_dla_core", 0)
        object.__setattr__(self, "_host_code", False)

    @property
    def num_DLA_cores(self) -> int:  # noqa: N802
        return self._state.device.dla_cores if self._state.has_dla else 0

    DLA_core = property(lambda self: self._dla_core, lambda self, v: object.__setattr__(self, "_dla_core", int(v)))
    engine_host_code_allowed = property(lambda self: self._host_code,
                                        lambda self, v: object.__setattr__(self, "_host_code", bool(v)))

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        state, device = self._state, self._state.device
        found = read_plan(bytes(serialized_engine))
        if found is None:
            state.log(self._logger, "ERROR", "IRuntime::deserializeCudaEngine: Error Code 1: Serialization "
                      "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)")
            return None
        header, model = found
        problem = None
        built = header["version"]
        if built != state.version:
            newer = version_key(state.version) >= version_key(built)
            if not (header["version_compatible"] and newer and self._host_code):
                problem = (f"The engine plan file is not compatible with this version of TensorRT, expecting library "
                           f"version {state.version} got {built}")
        plan_device = header["device"]
        if plan_device["machine"] != device.machine or bool(plan_device["jetson_module"]) != bool(device.jetson_module):
            problem = problem or "The engine plan file is not compatible with this platform"
        cc_built = tuple(int(p) for p in plan_device["compute_capability"].split("."))
        level = header["hardware_compatibility"]
        fits = {"NONE": cc_built == device.cc, "SAME_COMPUTE_CAPABILITY": cc_built == device.cc,
                "AMPERE_PLUS": device.cc >= (8, 0)}[level]
        if not fits:
            problem = problem or (f"The engine plan file is generated on an incompatible device, expecting compute "
                                  f"{device.compute_capability} got compute {plan_device['compute_capability']}")
        for plugin in header["plugins"]:
            if not state.plugins_initialised:
                problem = problem or f"getPluginCreator could not find plugin: {plugin} version: 1"
        if header["dla_core"] is not None and not 0 <= self._dla_core < self.num_DLA_cores:
            problem = problem or f"DLA core {self._dla_core} requested, this device has {self.num_DLA_cores}"
        if problem:
            state.log(self._logger, "ERROR", f"IRuntime::deserializeCudaEngine: {problem}")
            return None
        return state.module.ICudaEngine(header, model, self._logger)


class EngineInspector(Api):
    _api = "EngineInspector"

    def __init__(self, engine: ICudaEngine) -> None:
        object.__setattr__(self, "_engine", engine)

    def get_engine_information(self, format: Any) -> str:  # noqa: A002 - TensorRT's name
        header = self._engine._header
        layers: list[Any] = [{"Name": name, "LayerType": "Fake"} if header["detailed"] else name
                             for name in header["layers"]]
        io_key = "I/O Tensors" if version_key(self._state.version)[0] >= 11 else "Bindings"
        names = [t["name"] for t in header["inputs"] + header["outputs"]]
        if format.name != "JSON":
            return "\n".join(str(layer) for layer in layers)
        return json.dumps({"Layers": layers, io_key: names})


class ICudaEngine(Api):
    _api = "ICudaEngine"

    def __init__(self, header: dict[str, Any], model: bytes, logger: ILogger) -> None:
        object.__setattr__(self, "_header", header)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_logger", logger)
        object.__setattr__(self, "_io", {t["name"]: t for t in header["inputs"] + header["outputs"]})
        object.__setattr__(self, "_session", None)

    def _tensor(self, name: str) -> dict[str, Any]:
        if name not in self._io:
            raise RuntimeError(f"no tensor named '{name}'")
        return self._io[name]

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    @property
    def num_layers(self) -> int:
        return len(self._header["layers"])

    def get_tensor_name(self, index: int) -> str:
        return list(self._io)[index]

    def get_tensor_mode(self, name: str) -> Any:
        mode = self._state.enum("TensorIOMode")
        return mode.INPUT if any(t["name"] == name for t in self._header["inputs"]) else mode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return getattr(self._state.enum("DataType"), self._tensor(name)["dtype"])

    def get_tensor_shape(self, name: str) -> Dims:
        return Dims(self._tensor(name)["shape"])

    def is_shape_inference_io(self, name: str) -> bool:
        return bool(self._tensor(name).get("shape_tensor"))

    def get_tensor_location(self, name: str) -> Any:
        location = self._state.enum("TensorLocation")
        return location.HOST if self.is_shape_inference_io(name) else location.DEVICE

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Dims]:
        tensor = self._tensor(name)
        return [Dims(tensor[k]) for k in ("min", "opt", "max")] if "min" in tensor else []

    def create_execution_context(self, strategy: Any = None) -> IExecutionContext:
        return self._state.module.IExecutionContext(self)

    def create_engine_inspector(self) -> EngineInspector:
        return self._state.module.EngineInspector(self)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            object.__setattr__(self, "_session", ort.InferenceSession(self._model, options,
                                                                      providers=["CPUExecutionProvider"]))
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, feed), strict=True))


class IExecutionContext(Api):
    _api = "IExecutionContext"

    def __init__(self, engine: ICudaEngine) -> None:
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_shapes", {})
        object.__setattr__(self, "_addresses", {})
        object.__setattr__(self, "_allocators", {})
        object.__setattr__(self, "_changed", True)
        object.__setattr__(self, "_profiler", None)
        object.__setattr__(self, "executions", 0)

    @property
    def engine(self) -> ICudaEngine:
        return self._engine

    profiler = property(lambda self: self._profiler, lambda self, v: object.__setattr__(self, "_profiler", v))

    def _log(self, severity: str, message: str) -> None:
        self._state.log(self._engine._logger, severity, message)

    def set_input_shape(self, name: str, shape: Any) -> bool:
        tensor = self._engine._tensor(name)
        dims = tuple(int(d) for d in shape)
        lo, hi = tensor.get("min", tensor["shape"]), tensor.get("max", tensor["shape"])
        if len(dims) != len(tensor["shape"]) or any(not a <= d <= b for a, d, b in zip(lo, dims, hi, strict=True)):
            self._log("ERROR", f"IExecutionContext::setInputShape: Error Code 3: API Usage Error (Given invalid tensor "
                      f"shape {list(dims)} for '{name}', allowed {lo} .. {hi})")
            return False
        if self._shapes.get(name) != dims:
            object.__setattr__(self, "_changed", True)
        self._shapes[name] = dims
        return True

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self._engine._tensor(name)
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def set_output_allocator(self, name: str, output_allocator: Any) -> bool:
        if self._engine.get_tensor_mode(name) != self._state.enum("TensorIOMode").OUTPUT:
            return False
        output_allocator._require_init()
        self._allocators[name] = output_allocator
        return True

    def get_output_allocator(self, name: str) -> Any:
        return self._allocators.get(name)

    def get_tensor_shape(self, name: str) -> Dims:
        tensor = self._engine._tensor(name)
        if self._engine.get_tensor_mode(name) == self._state.enum("TensorIOMode").INPUT:
            return Dims(self._shapes.get(name, tensor["shape"]))
        return Dims(self._output_shapes().get(name, tensor["shape"]))

    def _host_value(self, tensor: dict[str, Any]) -> np.ndarray | None:
        """A shape tensor's values, read from the host memory its address points at."""
        address = self._addresses.get(tensor["name"])
        shape = self._shapes.get(tensor["name"])
        if not address or shape is None:
            return None
        dtype = np.dtype(NUMPY_TYPES[tensor["dtype"]])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return np.frombuffer(ctypes.string_at(address, nbytes), dtype=dtype).reshape(shape).copy()

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shapes from the input shapes and the shape tensors' values (-1: known only by running)."""
        import onnx
        from onnx import numpy_helper, shape_inference

        model = onnx.load_from_string(self._engine._model)
        graph = model.graph
        for tensor in self._engine._header["inputs"]:
            value = next(v for v in graph.input if v.name == tensor["name"])
            if tensor.get("shape_tensor"):
                host = self._host_value(tensor)
                if host is None:
                    return {}
                graph.initializer.append(numpy_helper.from_array(host, tensor["name"]))
            shape = self._shapes.get(tensor["name"])
            if shape is not None:
                for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
                    dim.Clear()
                    dim.dim_value = size
        inferred = shape_inference.infer_shapes(model, data_prop=True)
        shapes = {}
        for value in inferred.graph.output:
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
            shapes[value.name] = tuple(dims)
        return shapes

    def execute_async_v3(self, stream_handle: int) -> bool:
        cuda = self._state.cuda
        if cuda is None:
            raise RuntimeError("the fake TensorRT has no fake CUDA to run on")
        header = self._engine._header
        if int(stream_handle) in cuda.capturing:
            if self._changed:
                self._log("ERROR", "IExecutionContext::enqueueV3: the first enqueue after an input shape change "
                          "cannot be captured into a CUDA graph")
                return False
            if self._allocators:
                self._log("ERROR", "IExecutionContext::enqueueV3: outputs with an output allocator cannot be captured")
                return False
        feed: dict[str, np.ndarray] = {}
        for tensor in header["inputs"]:
            name, shape, address = tensor["name"], self._shapes.get(tensor["name"]), self._addresses.get(tensor["name"])
            if shape is None or not address:
                self._log("ERROR", f"IExecutionContext::enqueueV3: input '{name}' has no shape or no address set")
                return False
            dtype = np.dtype(NUMPY_TYPES[tensor["dtype"]])
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            on_device = cuda.is_device(address, nbytes)
            if tensor.get("shape_tensor") and on_device:
                self._log("ERROR", f"IExecutionContext::enqueueV3: shape tensor '{name}' must be in host memory; "
                          "its address is device memory")
                return False
            if tensor.get("shape_tensor"):
                values, (lo, _, hi) = self._host_value(tensor), tensor["values"]
                if values is None or any(not a <= int(v) <= b for a, v, b in zip(lo, values.ravel(), hi, strict=True)):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: shape tensor '{name}' values are outside its "
                              f"profile {lo} .. {hi}")
                    return False
            if not tensor.get("shape_tensor") and not on_device:
                self._log("ERROR", f"IExecutionContext::enqueueV3: an illegal memory access was encountered "
                          f"(input '{name}' address {address:#x} is not device memory)")
                return False
            feed[name] = (address, shape, dtype, nbytes)  # type: ignore[assignment]
        static = self._output_shapes()
        for tensor in header["outputs"]:
            name = tensor["name"]
            if tensor.get("shape_tensor") and cuda.is_device(self._addresses.get(name, 0)):
                self._log("ERROR", f"IExecutionContext::enqueueV3: shape tensor output '{name}' is written to host "
                          "memory; its address is device memory")
                return False
            if name not in self._allocators:
                if not self._addresses.get(name):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: Neither address or allocator is set for output "
                              f"tensor {name}. Call setOutputTensorAddress, setTensorAddress or setOutputAllocator "
                              "before enqueue/execute.")
                    return False
                if -1 in static.get(name, (-1,)):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: output '{name}' has a data-dependent shape and "
                              "needs an output allocator")
                    return False
        object.__setattr__(self, "_changed", False)
        cuda.enqueue(int(stream_handle), lambda: self._execute(feed, int(stream_handle)))
        return self._ok

    _ok = True

    def _execute(self, feed: dict[str, Any], stream: int) -> None:
        arrays = {}
        for name, (address, shape, dtype, nbytes) in feed.items():
            arrays[name] = np.frombuffer(ctypes.string_at(address, nbytes), dtype=dtype).reshape(shape).copy()
        results = self._engine._run(arrays)
        cuda = self._state.cuda
        for tensor in self._engine._header["outputs"]:
            name = tensor["name"]
            array = np.ascontiguousarray(results[name], dtype=NUMPY_TYPES[tensor["dtype"]])
            allocator = self._allocators.get(name)
            if allocator is not None:
                current = self._addresses.get(name, 0)
                override = getattr(type(allocator), "reallocate_output_async", None)
                if override is not None and override is not getattr(IOutputAllocator, "reallocate_output_async", None):
                    address = allocator.reallocate_output_async(name, current, array.nbytes, 256, stream)
                else:
                    address = allocator.reallocate_output(name, current, array.nbytes, 256)
                self._addresses[name] = int(address or 0)
            address = self._addresses.get(name, 0)
            if not tensor.get("shape_tensor") and not cuda.is_device(address, array.nbytes):
                raise RuntimeError(f"fake enqueueV3: output '{name}' address {address:#x} is not device memory of "
                                   f"{array.nbytes} bytes (TensorRT would write out of bounds)")
            ctypes.memmove(address, array.ctypes.data, array.nbytes)
            if allocator is not None:
                allocator.notify_shape(name, Dims(array.shape))
        object.__setattr__(self, "executions", self.executions + 1)
        if self._profiler is not None:
            for layer in self._engine._header["layers"]:
                self._profiler.report_layer_time(layer, 0.01)
