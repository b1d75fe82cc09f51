"""The TensorRT runner on the fakes: its I/O planning (static and dynamic shapes, data-dependent outputs,
shape-tensor inputs), plugins before deserialization, CUDA graphs, and no torch at all (polygraphy.cuda)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.backends.trt.builder import build_engine
from compile.backends.trt.compat import EngineCompatibilityError
from compile.backends.trt.runner import TrtRunner
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.backends.trt.sidecar import Binding, make_sidecar
from tests.helpers import make_tiny_classifier
from tests.trt.fakes import A100, JETSON_AGX_ORIN, TRT_10_3, TRT_10_13, TRT_11_1, VERSIONS, install
from tests.trt.fakes.fake_tensorrt import FakeDevice, State
from tests.trt.fakes.models import (
    fp16_classifier,
    nonzero_model,
    reshape_model,
    roialign_model,
    shape_output_model,
)


@pytest.fixture(autouse=True)
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault 12: the runner must not need torch (PyPI's torch has no CUDA on Jetson): importing it fails here."""
    monkeypatch.setitem(sys.modules, "torch", None)


def build(tmp_path: Path, onnx_path: Path, shapes: tuple[InputProfile, ...], version: str, **settings: Any) -> Path:
    engine = tmp_path / f"{onnx_path.stem}.plan"
    options = TrtBuildSettings(**{"tensorrt_major": int(version.split(".")[0]), "typing": "strong", "precision": "fp32",
                                  "shapes": shapes, **settings})
    with (tmp_path / "build.log").open("w") as log:
        build_engine(onnx_path, engine, options, log=log)
    return engine


def sidecar_for(device: FakeDevice, version: str, dla_core: int | None = None) -> dict[str, Any]:
    return make_sidecar(runtime="tensorrt", tensorrt_version=version, gpu_name=device.name,
                        compute_capability=device.compute_capability, profile="test", hardware=device.name,
                        precision="fp32", sparsity="dense", bindings=[Binding("x", "input", (-1,), "float32")],
                        onnx_sha256="", engine_sha256=None, hardware_compatibility="none", version_compatible=False,
                        build_path="", builder={}, dla_core=dla_core,
                        platform={"machine": device.machine, "jetson_module": device.jetson_module})


def reference(onnx_path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))


@pytest.mark.parametrize("version", VERSIONS)
def test_static_and_dynamic_batches_run_through_polygraphy_cuda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               version: str) -> None:
    fake = install(monkeypatch, tmp_path, version, A100)
    model = make_tiny_classifier(tmp_path / "tiny.onnx")
    engine = build(tmp_path, model, (InputProfile("input", (1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),), version)
    rng = np.random.default_rng(0)
    with TrtRunner(engine, sidecar_for(A100, version)) as runner:
        assert [(t.name, t.mode, t.shape, t.on_host) for t in runner.io] == [
            ("input", "input", (-1, 3, 16, 16), False), ("logits", "output", (-1, 10), False)]
        for batch in (3, 8, 1):
            feed = {"input": rng.standard_normal((batch, 3, 16, 16)).astype(np.float32)}
            got = runner.infer(feed)["logits"]
            np.testing.assert_allclose(got, reference(model, feed)["logits"], rtol=1e-6, atol=1e-6)
    cuda = fake.cuda
    # Inputs went host -> device and outputs back through the fake CUDA; every buffer was freed again.
    assert ("htod", 3 * 3 * 16 * 16 * 4) in cuda.copies and ("dtoh", 3 * 10 * 4) in cuda.copies
    assert cuda.allocations == {} and not fake.called("IExecutionContext.set_output_allocator")


@pytest.mark.parametrize("version", (TRT_10_3, TRT_11_1))
def test_data_dependent_outputs_get_an_output_allocator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        version: str) -> None:
    """Fault 2: NonZero's output shape is [2, -1] until the data is known; allocating from it would fail."""
    fake = install(monkeypatch, tmp_path, version, A100)
    model = nonzero_model(tmp_path / "nonzero.onnx")
    engine = build(tmp_path, model, (InputProfile("x", (1, 5), (2, 5), (4, 5)),), version)
    x = np.array([[1.0, -1.0, 0.0, 2.0, 3.0], [0.0, 0.5, -2.0, 0.0, 0.0]], dtype=np.float32)
    with TrtRunner(engine, sidecar_for(A100, version)) as runner:
        indices = runner.infer({"x": x})["indices"]
        np.testing.assert_array_equal(indices, np.stack(np.nonzero(np.maximum(x, 0))))
        assert runner.infer({"x": np.zeros((3, 5), np.float32)})["indices"].shape == (2, 0)
        timing = runner.device_latency({"x": x}, warmup=1, iterations=3, cuda_graph=True)
    assert fake.called("IExecutionContext.set_output_allocator")
    assert fake.called("IOutputAllocator.reallocate_output") and fake.called("IOutputAllocator.notify_shape")
    assert timing["cuda_graph"] is False and timing["cuda_graph_note"].startswith("not captured: data-dependent")


def shape_tensor_engine(fake: State, tmp_path: Path) -> Path:
    """An engine whose input ``shape`` is a shape tensor, built with the fake's own API (this tool's builder
    refuses shape-tensor inputs: its profiles give shapes, not values)."""
    trt = fake.module
    logger = trt.Logger()
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert trt.OnnxParser(network, logger).parse_from_file(str(reshape_model(tmp_path / "reshape.onnx")))
    assert [network.get_input(i).is_shape_tensor for i in range(network.num_inputs)] == [False, True]
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape_input("shape", [1, 1], [4, 6], [24, 24])
    config.add_optimization_profile(profile)
    engine = tmp_path / "reshape.plan"
    engine.write_bytes(bytes(builder.build_serialized_network(network, config)))
    return engine


def test_shape_tensor_inputs_stay_on_the_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 7: TensorRT reads a shape tensor from host memory; a device copy of it is refused."""
    fake = install(monkeypatch, tmp_path, TRT_10_13, A100)
    engine = shape_tensor_engine(fake, tmp_path)
    data = np.arange(24, dtype=np.float32)
    with TrtRunner(engine, sidecar_for(A100, TRT_10_13)) as runner:
        assert {t.name: t.on_host for t in runner.io} == {"data": False, "shape": True, "out": False}
        out = runner.infer({"data": data, "shape": np.array([4, 6], dtype=np.int64)})["out"]
        np.testing.assert_array_equal(out, data.reshape(4, 6))
        assert runner.infer({"data": data, "shape": np.array([2, 12])})["out"].shape == (2, 12)
    # Only the data tensor was copied to the device (96 bytes each time); the shape values never were.
    assert [size for kind, size in fake.cuda.copies if kind == "htod"] == [96, 96]


def test_a_shape_tensor_on_the_device_is_refused_by_tensorrt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fake enforces what the runner relies on (so the test above would fail on the old runner)."""
    fake = install(monkeypatch, tmp_path, TRT_10_13, A100)
    engine = shape_tensor_engine(fake, tmp_path)
    trt = fake.module
    cuda = fake.cuda
    context = trt.Runtime(trt.Logger()).deserialize_cuda_engine(engine.read_bytes()).create_execution_context()
    data, shape = cuda.malloc(96), cuda.malloc(16)
    out = cuda.malloc(96)
    for name, dims, address in (("data", [24], data), ("shape", [2], shape)):
        context.set_input_shape(name, dims)
        context.set_tensor_address(name, address)
    context.set_tensor_address("out", out)
    assert context.execute_async_v3(cuda.create_stream()) is False
    assert "shape tensor 'shape' must be in host memory" in fake.logs[-1][1]


def test_shape_tensor_outputs_are_written_to_host_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = install(monkeypatch, tmp_path, TRT_10_3, A100)
    engine = build(tmp_path, shape_output_model(tmp_path / "shape.onnx"),
                   (InputProfile("x", (1, 3), (2, 3), (4, 3)),), TRT_10_3)
    x = np.array([[1.0, -2.0, 3.0]] * 3, dtype=np.float32)
    with TrtRunner(engine, sidecar_for(A100, TRT_10_3)) as runner:
        assert {t.name: t.on_host for t in runner.io} == {"x": False, "y": False, "shape": True}
        got = runner.infer({"x": x})
    np.testing.assert_array_equal(got["shape"], [3, 3])
    np.testing.assert_array_equal(got["y"], np.maximum(x, 0))
    assert [size for kind, size in fake.cuda.copies if kind == "dtoh"] == [36]  # y only


def test_plugins_are_registered_before_the_engine_is_deserialized(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 6: an engine naming a plugin (RoiAlign -> ROIAlign_TRT) loads in a fresh process only after
    init_libnvinfer_plugins."""
    install(monkeypatch, tmp_path, TRT_10_3, A100)
    model = roialign_model(tmp_path / "roi.onnx")
    engine = build(tmp_path, model, (InputProfile("x", (1, 3, 16, 16), (1, 3, 16, 16), (2, 3, 16, 16)),), TRT_10_3)
    fresh = install(monkeypatch, tmp_path, TRT_10_3, A100)  # a new process: no plugin registered yet
    assert not fresh.plugins_initialised
    feed = {"x": np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    with TrtRunner(engine, sidecar_for(A100, TRT_10_3)) as runner:
        np.testing.assert_allclose(runner.infer(feed)["crops"], reference(model, feed)["crops"], rtol=1e-6)
    names = [name for name, _ in fresh.calls]
    assert names.index("init_libnvinfer_plugins") < names.index("Runtime.deserialize_cuda_engine")


def test_device_latency_replays_a_cuda_graph(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = install(monkeypatch, tmp_path, TRT_11_1, A100)
    model = make_tiny_classifier(tmp_path / "tiny.onnx")
    engine = build(tmp_path, model, (InputProfile("input", (1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16)),), TRT_11_1)
    feed = {"input": np.ones((2, 3, 16, 16), np.float32)}
    with TrtRunner(engine, sidecar_for(A100, TRT_11_1)) as runner:
        graph = runner.device_latency(feed, warmup=2, iterations=5, cuda_graph=True)
        plain = runner.device_latency(feed, warmup=0, iterations=3, cuda_graph=False)
        layers = runner.layer_times(feed, iterations=2)
    assert graph["cuda_graph"] is True and graph["cuda_graph_note"] == "captured" and graph["iterations"] == 5
    assert fake.cuda.launches == 7 and plain["cuda_graph"] is False and plain["p50_ms"] >= 0
    assert set(layers) == {"conv", "relu", "pool", "flatten", "fc"}


def test_a_dla_engine_needs_its_core_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 5: the guard reads the recorded DLA core; the runtime is told which core to use."""
    fake = install(monkeypatch, tmp_path, TRT_10_3, JETSON_AGX_ORIN)
    model = fp16_classifier(tmp_path / "m.onnx")
    static = (1, 3, 16, 16)
    engine = build(tmp_path, model, (InputProfile("input", static, static, static),), TRT_10_3, dla_core=1,
                   gpu_fallback=True, precision="fp16")
    with TrtRunner(engine, sidecar_for(JETSON_AGX_ORIN, TRT_10_3, dla_core=1)) as runner:
        assert runner.infer({"input": np.ones((1, 3, 16, 16), np.float32)})["logits"].shape == (1, 10)
    assert fake.called("Runtime.DLA_core=") == [(1,)]
    one_core = FakeDevice("Orin", "8.7", 1, JETSON_AGX_ORIN.jetson_module, "aarch64")
    install(monkeypatch, tmp_path, TRT_10_3, one_core)
    with pytest.raises(EngineCompatibilityError, match=r"DLA: built for DLA core 1, this device has 1 DLA core"), \
            TrtRunner(engine, sidecar_for(one_core, TRT_10_3, dla_core=1)):
        pass
