"""A stand-in for the CUDA runtime behind ``polygraphy.cuda``: "device" memory is host memory the fake keeps a
register of, so the fake TensorRT can tell device from host addresses (shape tensors must be host memory,
everything else device memory) and a copy in the wrong direction fails as CUDA would refuse it.

It replaces Polygraphy's global wrapper (``polygraphy.cuda.cuda.G_CUDA``): ``malloc``/``free``/``memcpy``/
streams as Polygraphy's ``Cuda`` class has them, and ``handle`` with the runtime functions the runner calls
through ctypes (events, graph capture, device attributes), taking ``ctypes.byref`` arguments as the real
library does. Stream capture records the work enqueued on a capturing stream and replays it on launch.
"""

from __future__ import annotations

import ctypes
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: cudaError codes the fake returns.
SUCCESS, INVALID_VALUE, NO_DEVICE = 0, 1, 100
#: cudaDevAttrComputeCapabilityMajor / Minor.
CC_MAJOR, CC_MINOR = 75, 76


def _value(arg: Any) -> int:
    """The int behind a c_void_p/c_int or a plain int."""
    return int(getattr(arg, "value", arg) or 0)


def _out(ref: Any) -> Any:
    """The ctypes object a ``ctypes.byref(...)`` argument points at."""
    return ref._obj


@dataclass
class FakeCudart:
    """The CUDA runtime functions the runner and the GPU detection call through Polygraphy's handle."""

    owner: FakeCuda
    compute_capability: tuple[int, int] | None = (8, 0)
    events: dict[int, float] = field(default_factory=dict)
    graphs: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    executables: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(0x7000))

    def cudaGetDeviceCount(self, count: Any) -> int:  # noqa: N802 - the CUDA runtime's names
        _out(count).value = 0 if self.compute_capability is None else 1
        return SUCCESS if self.compute_capability is not None else NO_DEVICE

    def cudaDeviceGetAttribute(self, value: Any, attribute: int, device: int) -> int:  # noqa: N802
        if self.compute_capability is None or device != 0:
            return INVALID_VALUE
        _out(value).value = {CC_MAJOR: self.compute_capability[0], CC_MINOR: self.compute_capability[1]}[attribute]
        return SUCCESS

    def cudaEventCreate(self, event: Any) -> int:  # noqa: N802
        handle = next(self._ids)
        self.events[handle] = 0.0
        _out(event).value = handle
        return SUCCESS

    def cudaEventRecord(self, event: Any, stream: Any) -> int:  # noqa: N802
        if _value(event) not in self.events:
            return INVALID_VALUE
        self.events[_value(event)] = time.perf_counter()
        return SUCCESS

    def cudaEventSynchronize(self, event: Any) -> int:  # noqa: N802
        return SUCCESS if _value(event) in self.events else INVALID_VALUE

    def cudaEventElapsedTime(self, ms: Any, start: Any, end: Any) -> int:  # noqa: N802
        _out(ms).value = (self.events[_value(end)] - self.events[_value(start)]) * 1000.0
        return SUCCESS

    def cudaEventDestroy(self, event: Any) -> int:  # noqa: N802
        self.events.pop(_value(event), None)
        return SUCCESS

    def cudaStreamBeginCapture(self, stream: Any, mode: Any) -> int:  # noqa: N802
        if _value(stream) in self.owner.capturing:
            return INVALID_VALUE
        self.owner.capturing[_value(stream)] = []
        return SUCCESS

    def cudaStreamEndCapture(self, stream: Any, graph: Any) -> int:  # noqa: N802
        work = self.owner.capturing.pop(_value(stream), None)
        if work is None:
            return INVALID_VALUE
        handle = next(self._ids)
        self.graphs[handle] = work
        _out(graph).value = handle
        return SUCCESS

    def cudaGraphInstantiateWithFlags(self, executable: Any, graph: Any, flags: Any) -> int:  # noqa: N802
        handle = next(self._ids)
        self.executables[handle] = list(self.graphs[_value(graph)])
        _out(executable).value = handle
        return SUCCESS

    def cudaGraphLaunch(self, executable: Any, stream: Any) -> int:  # noqa: N802
        for work in self.executables[_value(executable)]:
            work()
        self.owner.launches += 1
        return SUCCESS

    def cudaGraphDestroy(self, graph: Any) -> int:  # noqa: N802
        self.graphs.pop(_value(graph), None)
        return SUCCESS

    def cudaGraphExecDestroy(self, executable: Any) -> int:  # noqa: N802
        self.executables.pop(_value(executable), None)
        return SUCCESS


class FakeCuda:
    """Polygraphy's ``Cuda`` wrapper over host memory, with a register of what is "device" memory."""

    def __init__(self, compute_capability: tuple[int, int] | None = (8, 0)) -> None:
        self.allocations: dict[int, np.ndarray] = {}
        self.capturing: dict[int, list[Callable[[], None]]] = {}
        self.copies: list[tuple[str, int]] = []
        self.launches = 0
        self._streams = itertools.count(0x1000)
        self.streams: set[int] = set()
        self.handle = FakeCudart(self, compute_capability)

    # -- what the fake TensorRT asks --------------------------------------------------------------------
    def is_device(self, ptr: int, nbytes: int = 1) -> bool:
        """Whether [ptr, ptr + nbytes) lies inside one device allocation."""
        for base, block in self.allocations.items():
            if base <= ptr and ptr + max(nbytes, 1) <= base + block.nbytes:
                return True
        return False

    def enqueue(self, stream: int, work: Callable[[], None]) -> None:
        """Run ``work`` now, or record it when ``stream`` is being captured."""
        if stream in self.capturing:
            self.capturing[stream].append(work)
        else:
            work()

    # -- polygraphy.cuda.Cuda's methods -----------------------------------------------------------------
    def check(self, status: int) -> None:
        if status != SUCCESS:
            raise RuntimeError(f"CUDA Error: {status}")

    def malloc(self, nbytes: int) -> int:
        block = np.zeros(int(nbytes), dtype=np.uint8)
        ptr = int(block.ctypes.data)
        self.allocations[ptr] = block
        return ptr

    def free(self, ptr: int) -> None:
        if ptr and self.allocations.pop(int(ptr), None) is None:
            raise RuntimeError(f"CUDA Error: {INVALID_VALUE} (free of {ptr:#x}, which was not allocated)")

    def memcpy(self, dst: int, src: int, nbytes: Any, kind: Any, stream_ptr: int | None = None) -> None:
        size, direction = _value(nbytes), _value(kind)
        want_src, want_dst = {0: (False, False), 1: (False, True), 2: (True, False), 3: (True, True)}[direction]
        if self.is_device(src, size) != want_src or self.is_device(dst, size) != want_dst:
            raise RuntimeError(f"CUDA Error: {INVALID_VALUE} (memcpy kind {direction} from {src:#x} to {dst:#x})")
        self.copies.append(({1: "htod", 2: "dtoh"}.get(direction, "other"), size))
        self.enqueue(int(stream_ptr or 0), lambda: ctypes.memmove(dst, src, size))

    def create_stream(self) -> int:
        stream = next(self._streams)
        self.streams.add(stream)
        return stream

    def stream_synchronize(self, ptr: int) -> None:
        if ptr in self.capturing:
            raise RuntimeError("CUDA Error: 900 (synchronize while capturing)")

    def destroy_stream(self, ptr: int) -> None:
        self.streams.discard(ptr)
