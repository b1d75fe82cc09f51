"""Where each engine tensor lives and how it is bound to an execution context (after Polygraphy's TrtRunner).

* Inputs TensorRT reads as data are copied to device memory; shape tensors (``engine.is_shape_inference_io``:
  inputs whose values set shapes, outputs of shape computations) live in host memory, where TensorRT
  reads and writes them.
* Outputs whose shape is known once the input shapes are set (static or dynamic) get device memory of that
  size; outputs whose shape depends on the data (NonZero, NMS: a -1 left in ``context.get_tensor_shape``)
  get an ``IOutputAllocator``, which TensorRT calls with the size it needs and then the actual shape.

Host arrays: float32 for FLOAT, float16 for HALF, the integer types as they are; BF16 travels as its raw
16 bits and is widened to float32 on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from compile.backends.trt.cuda import Cuda, DeviceBuffer
from compile.errors import PassError, UserInputError

if TYPE_CHECKING:
    import tensorrt as trt

#: TensorRT DataType name -> dtype of the host array exchanged with the engine (BF16: its raw bits).
HOST_DTYPES: dict[str, Any] = {
    "FLOAT": np.float32, "HALF": np.float16, "BF16": np.uint16, "INT8": np.int8, "INT32": np.int32,
    "INT64": np.int64, "BOOL": np.bool_, "UINT8": np.uint8,
}


@dataclass(frozen=True)
class TensorIO:
    """One engine I/O tensor: ``shape`` has -1 for axes set at run time; ``on_host``: a shape tensor,
    which TensorRT reads (input) or writes (output) in host memory."""

    name: str
    mode: Literal["input", "output"]
    dtype_name: str
    shape: tuple[int, ...]
    on_host: bool = False

    @property
    def host_dtype(self) -> np.dtype:
        if self.dtype_name not in HOST_DTYPES:
            raise PassError(f"engine tensor '{self.name}' has type {self.dtype_name}, which this runner cannot exchange")
        return np.dtype(HOST_DTYPES[self.dtype_name])


def dims(value: Any) -> tuple[int, ...]:
    return tuple(int(value[i]) for i in range(len(value)))


def plan_io(engine: trt.ICudaEngine) -> list[TensorIO]:
    """The engine's I/O tensors in TensorRT's order, with where each one lives."""
    import tensorrt as trt

    found = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        mode: Literal["input", "output"] = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        found.append(TensorIO(name, mode, str(engine.get_tensor_dtype(name).name), dims(engine.get_tensor_shape(name)),
                              on_host=bool(engine.is_shape_inference_io(name))))
    return found


def make_output_allocator(cuda: Cuda) -> Any:
    """An ``IOutputAllocator`` keeping one growing device buffer per output and the shapes TensorRT reports."""
    import tensorrt as trt

    class OutputAllocator(trt.IOutputAllocator):
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)
            self.buffers: dict[str, DeviceBuffer] = {}
            self.shapes: dict[str, tuple[int, ...]] = {}

        def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
            return self.buffers.setdefault(tensor_name, DeviceBuffer(cuda)).reserve(size)

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int, stream: int) -> int:
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = dims(shape)

        def free(self) -> None:
            for buffer in self.buffers.values():
                buffer.free()
            self.buffers.clear()

    return OutputAllocator()


@dataclass
class Binding:
    """What one execution context is bound to: device buffers, the host arrays TensorRT reads (kept alive
    here), output addresses and shapes known before execution, and the allocator for the others."""

    cuda: Cuda
    buffers: dict[str, DeviceBuffer] = field(default_factory=dict)
    host_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    #: Shape-tensor outputs, which TensorRT writes to host memory.
    host_outputs: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=dict)
    #: Outputs whose shape only execution tells, bound to ``allocator``.
    data_dependent: list[str] = field(default_factory=list)
    allocator: Any = None

    def bind(self, context: trt.IExecutionContext, io: list[TensorIO], feed: dict[str, np.ndarray], stream: int,
             engine_name: str) -> None:
        """Set input shapes and addresses (inputs copied on ``stream``), then bind every output."""
        self.host_inputs.clear()
        for tensor in (t for t in io if t.mode == "input"):
            array = to_host_array(tensor, feed[tensor.name])
            if not context.set_input_shape(tensor.name, list(array.shape)):
                raise UserInputError(f"{engine_name}: input '{tensor.name}' shape {array.shape} is outside the engine's "
                                     "optimization profile")
            self.host_inputs[tensor.name] = array
            if tensor.on_host:
                address = array.ctypes.data
            else:
                address = self.buffers.setdefault(tensor.name, DeviceBuffer(self.cuda)).reserve(array.nbytes)
                self.cuda.copy_to_device(address, array, stream)
            context.set_tensor_address(tensor.name, address)
        self.outputs.clear()
        self.host_outputs.clear()
        self.data_dependent.clear()
        for tensor in (t for t in io if t.mode == "output"):
            shape = dims(context.get_tensor_shape(tensor.name))
            if tensor.on_host:
                host = np.empty(shape, dtype=tensor.host_dtype)
                self.host_outputs[tensor.name] = host
                context.set_tensor_address(tensor.name, host.ctypes.data)
                continue
            if any(d < 0 for d in shape):
                if self.allocator is None:
                    self.allocator = make_output_allocator(self.cuda)
                if not context.set_output_allocator(tensor.name, self.allocator):
                    raise PassError(f"{engine_name}: TensorRT refused an output allocator for '{tensor.name}'")
                self.data_dependent.append(tensor.name)
                continue
            nbytes = int(np.prod(shape, dtype=np.int64)) * tensor.host_dtype.itemsize
            address = self.buffers.setdefault(tensor.name, DeviceBuffer(self.cuda)).reserve(nbytes)
            context.set_tensor_address(tensor.name, address)
            self.outputs[tensor.name] = (address, shape)

    def fetch(self, io: list[TensorIO], stream: int) -> dict[str, np.ndarray]:
        """Copy every output to the host (after the execution enqueued on ``stream``) and wait for it."""
        results: dict[str, np.ndarray] = {}
        for tensor in (t for t in io if t.mode == "output"):
            if tensor.name in self.host_outputs:
                continue
            if tensor.name in self.outputs:
                address, shape = self.outputs[tensor.name]
            else:
                if self.allocator is None or tensor.name not in self.allocator.shapes:
                    raise PassError(f"TensorRT did not report the shape of output '{tensor.name}'")
                address, shape = self.allocator.buffers[tensor.name].ptr, self.allocator.shapes[tensor.name]
            host = np.empty(shape, dtype=tensor.host_dtype)
            self.cuda.copy_to_host(host, address, stream)
            results[tensor.name] = host
        self.cuda.synchronize(stream)
        results.update({name: array.copy() for name, array in self.host_outputs.items()})
        return {t.name: from_host_array(t, results[t.name]) for t in io if t.mode == "output"}

    def free(self) -> None:
        for buffer in self.buffers.values():
            buffer.free()
        self.buffers.clear()
        if self.allocator is not None:
            self.allocator.free()
        self.host_inputs.clear()
        self.host_outputs.clear()


def to_host_array(tensor: TensorIO, array: np.ndarray) -> np.ndarray:
    """The contiguous host array TensorRT reads for ``tensor`` (BF16: float32 rounded to its upper 16 bits)."""
    if tensor.dtype_name == "BF16":
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.ascontiguousarray(array, dtype=tensor.host_dtype)


def from_host_array(tensor: TensorIO, array: np.ndarray) -> np.ndarray:
    """What the caller gets: float16 and BF16 widened to float32, everything else as it is."""
    if tensor.dtype_name == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    return array
