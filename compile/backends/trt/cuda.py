"""Device memory, streams, copies, events and CUDA graphs for the TensorRT runner, through ``polygraphy.cuda``.

Polygraphy (a dependency) loads the CUDA runtime library with ctypes, so this works wherever TensorRT does,
Jetson included, where PyPI's torch has no CUDA. Allocation, copies and streams are Polygraphy's
(``cuda.wrapper()``, ``cuda.Stream``); events and graph capture call the same runtime library through
Polygraphy's handle. Pointers are plain ints; a failed CUDA call raises :class:`CudaError`.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from compile.errors import PassError

#: cudaStreamCaptureModeGlobal (cuda_runtime_api.h), as TensorRT's CUDA-graph examples capture.
CAPTURE_MODE_GLOBAL = 0


class CudaError(PassError):
    """A CUDA runtime call failed (out of memory, no device, a failed capture)."""


def _ptr(value: int | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(value)


class Cuda:
    """The CUDA runtime as the runner needs it. Every method takes and returns plain ints for pointers."""

    def __init__(self) -> None:
        from polygraphy import cuda

        self._cuda = cuda
        self._rt = cuda.wrapper()
        self._lib = self._rt.handle

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise CudaError(f"CUDA error {status} in {what}")

    def _call(self, what: str, *args: Any) -> Any:
        """A Polygraphy wrapper call; its failure (a PolygraphyException) becomes a CudaError."""
        try:
            return getattr(self._rt, what)(*args)
        except Exception as err:  # noqa: BLE001 - Polygraphy reports CUDA errors with its own exception type
            raise CudaError(f"CUDA {what} failed: {(str(err).strip().splitlines() or [type(err).__name__])[0]}") from err

    # -- memory and copies ----------------------------------------------------------------------------
    def malloc(self, nbytes: int) -> int:
        return int(self._call("malloc", max(int(nbytes), 1)))

    def free(self, ptr: int) -> None:
        self._call("free", ptr)

    def copy_to_device(self, dst: int, host: np.ndarray, stream: int) -> None:
        """Asynchronous host-to-device copy of the contiguous array ``host`` (kept alive by the caller)."""
        if host.nbytes:
            self._call("memcpy", dst, host.ctypes.data, host.nbytes, self._cuda.MemcpyKind.HostToDevice, stream)

    def copy_to_host(self, host: np.ndarray, src: int, stream: int) -> None:
        """Asynchronous device-to-host copy into the contiguous array ``host``."""
        if host.nbytes:
            self._call("memcpy", host.ctypes.data, src, host.nbytes, self._cuda.MemcpyKind.DeviceToHost, stream)

    # -- streams --------------------------------------------------------------------------------------
    def stream(self) -> Any:
        """A new CUDA stream (Polygraphy's ``Stream``: ``.ptr``, ``.synchronize()``, ``.free()``)."""
        try:
            return self._cuda.Stream()
        except Exception as err:  # noqa: BLE001 - see _call
            raise CudaError(f"CUDA stream creation failed: {(str(err).strip().splitlines() or [type(err).__name__])[0]}") from err

    def synchronize(self, stream: int) -> None:
        self._call("stream_synchronize", stream)

    # -- events ---------------------------------------------------------------------------------------
    def event(self) -> int:
        handle = ctypes.c_void_p()
        self._check(self._lib.cudaEventCreate(ctypes.byref(handle)), "cudaEventCreate")
        return int(handle.value or 0)

    def record(self, event: int, stream: int) -> None:
        self._check(self._lib.cudaEventRecord(_ptr(event), _ptr(stream)), "cudaEventRecord")

    def elapsed_ms(self, start: int, end: int) -> float:
        """Milliseconds between two recorded events (waits for ``end``)."""
        self._check(self._lib.cudaEventSynchronize(_ptr(end)), "cudaEventSynchronize")
        ms = ctypes.c_float()
        self._check(self._lib.cudaEventElapsedTime(ctypes.byref(ms), _ptr(start), _ptr(end)), "cudaEventElapsedTime")
        return float(ms.value)

    def destroy_event(self, event: int) -> None:
        self._lib.cudaEventDestroy(_ptr(event))

    # -- graphs ---------------------------------------------------------------------------------------
    def begin_capture(self, stream: int) -> None:
        self._check(self._lib.cudaStreamBeginCapture(_ptr(stream), ctypes.c_int(CAPTURE_MODE_GLOBAL)),
                    "cudaStreamBeginCapture")

    def end_capture(self, stream: int) -> int:
        """End the capture on ``stream`` and instantiate it; returns the executable graph."""
        graph, executable = ctypes.c_void_p(), ctypes.c_void_p()
        self._check(self._lib.cudaStreamEndCapture(_ptr(stream), ctypes.byref(graph)), "cudaStreamEndCapture")
        try:
            self._check(self._lib.cudaGraphInstantiateWithFlags(ctypes.byref(executable), graph, ctypes.c_ulonglong(0)),
                        "cudaGraphInstantiateWithFlags")
        finally:
            self._lib.cudaGraphDestroy(graph)
        return int(executable.value or 0)

    def launch(self, executable: int, stream: int) -> None:
        self._check(self._lib.cudaGraphLaunch(_ptr(executable), _ptr(stream)), "cudaGraphLaunch")

    def destroy_graph(self, executable: int) -> None:
        self._lib.cudaGraphExecDestroy(_ptr(executable))


class DeviceBuffer:
    """Device memory that grows on demand (never shrinks) until freed."""

    def __init__(self, cuda: Cuda) -> None:
        self.cuda = cuda
        self.ptr = 0
        self.capacity = 0

    def reserve(self, nbytes: int) -> int:
        """At least ``nbytes`` of device memory; returns its address (contents lost when it grows)."""
        if nbytes > self.capacity or not self.ptr:
            self.free()
            self.ptr = self.cuda.malloc(nbytes)
            self.capacity = max(int(nbytes), 1)
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            self.cuda.free(self.ptr)
        self.ptr, self.capacity = 0, 0
