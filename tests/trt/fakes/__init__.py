"""Test doubles of TensorRT and of the CUDA runtime behind polygraphy.cuda, faithful to each TensorRT version's
Python API (see ``tables.py``), for running the build and the runner without a GPU.

In a test: ``fake = install(monkeypatch, tmp_path, TRT_10_3, JETSON_ORIN_NANO)`` puts a fake ``tensorrt`` in
``sys.modules``, the fake CUDA under Polygraphy, and makes GPU detection see ``device``;
``subprocess_env(monkeypatch, ...)`` lets the build worker's child process import the same fake.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from compile.backends.trt import detect
from compile.errors import CompileError, PassError
from compile.fsutil import write_json_atomic
from tests.trt.fakes.fake_cuda import FakeCuda
from tests.trt.fakes.fake_tensorrt import FakeDevice, State, fake_root, make_module

#: The versions the fakes are generated for (tables.py): JetPack 6, the first with SAME_COMPUTE_CAPABILITY,
#: the stubs' version, TensorRT 11.
TRT_10_3, TRT_10_9, TRT_10_13, TRT_11_1 = "10.3.0.26", "10.9.0.34", "10.13.0.35", "11.1.0.106"
VERSIONS = (TRT_10_3, TRT_10_13, TRT_11_1)

#: Devices as CUDA, nvidia-smi and the device tree describe them.
A100 = FakeDevice("NVIDIA A100-SXM4-80GB", "8.0")
H100 = FakeDevice("NVIDIA H100 80GB HBM3", "9.0")
A10 = FakeDevice("NVIDIA A10", "8.6")
L4 = FakeDevice("NVIDIA L4", "8.9")
T4 = FakeDevice("Tesla T4", "7.5", sparse_tensor_cores=False)
JETSON_ORIN_NANO = FakeDevice("Orin", "8.7", 0, "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
                              "aarch64")
JETSON_AGX_ORIN = FakeDevice("Orin", "8.7", 2, "NVIDIA Jetson AGX Orin Developer Kit", "aarch64")
#: The device each shipped GPU profile is for.
PROFILE_DEVICES = {"t4": T4, "a10": A10, "a100": A100, "l4": L4, "h100": H100,
                   "jetson-orin-nano": JETSON_ORIN_NANO, "jetson-agx-orin": JETSON_AGX_ORIN}


def install_cuda_globally(config: dict[str, Any]) -> FakeCuda:
    """Replace Polygraphy's CUDA wrapper in this process by a fake (for the child process shim)."""
    import polygraphy.cuda.cuda as polygraphy_cuda

    cuda = FakeCuda(FakeDevice(**config.get("device", {})).cc)
    polygraphy_cuda.G_CUDA = cuda
    return cuda


def install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version: str, device: FakeDevice = A100,
            quirks: set[str] | None = None) -> State:
    """A fake ``tensorrt`` of ``version`` on ``device`` for this test: in ``sys.modules``, with the fake CUDA
    under Polygraphy, and GPU detection (nvidia-smi, the CUDA runtime, the device tree, the CPU architecture)
    seeing ``device``. Returns the fake's state (calls, logs)."""
    import polygraphy.cuda.cuda as polygraphy_cuda

    cuda = FakeCuda(device.cc)
    module = make_module(version, device, cuda, quirks)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(polygraphy_cuda, "G_CUDA", cuda)
    # Jetson: no nvidia-smi (the CUDA runtime and the device tree tell); a discrete GPU: nvidia-smi's line.
    smi = None if device.jetson_module else {"name": device.name, "driver": "fake", "compute_capability": device.compute_capability}
    monkeypatch.setattr("compile.bench.machine.machine_info", lambda: {"gpu": smi})
    model = tmp_path / f"device-tree-model-{id(module)}"
    model.write_bytes((device.jetson_module.encode() + b"\x00") if device.jetson_module else b"QEMU x86 virt\x00")
    monkeypatch.setattr(detect, "DEVICE_TREE_MODEL", model)
    monkeypatch.setattr(detect, "machine", lambda: device.machine)
    state: State = module._fake  # type: ignore[attr-defined]
    return state


def subprocess_env(monkeypatch: pytest.MonkeyPatch, version: str, device: FakeDevice = A100,
                   quirks: set[str] | None = None) -> None:
    """Make child processes (the build worker) import the fake of ``version`` on ``device`` as ``tensorrt``."""
    repo = Path(__file__).resolve().parents[3]
    paths = [str(fake_root()), str(repo), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.setenv("COMPILE_FAKE_TENSORRT", json.dumps({"version": version, "device": device.to_dict(),
                                                            "quirks": sorted(quirks or ())}))


def run_worker_in_process(job: dict[str, Any], job_path: Path, log_path: Path, timeout_s: float | None = None) -> dict[str, Any]:
    """``build_worker.run_in_subprocess`` without the subprocess (the fake lives in this process): the same job
    file, the same log, the same result or PassError naming the log."""
    import contextlib

    # Here, not at the top: a build worker's child process imports this package through the fake tensorrt, and
    # would load the worker a second time beside the one running as __main__.
    from compile.backends.trt.build_worker import run_job

    write_json_atomic(job_path, job)
    with log_path.open("w") as log, contextlib.redirect_stderr(log):
        try:
            return run_job(job)
        except CompileError as err:
            raise PassError(f"{err} (log: {log_path})") from err
