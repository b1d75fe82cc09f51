"""Tiny ONNX graphs for the precision tests, built in memory with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compile.models.spec import InputSpec, ModelInfo, Preprocessing


def _save(path: Path, nodes: list, inputs: list, outputs: list, initializers: list, info: ModelInfo | None) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if info is not None:
        from compile.onnx_io import set_model_info

        set_model_info(model, info)
    onnx.save(model, str(path))
    return path


def residual_cnn(path: Path, channels: int = 8, classes: int = 10, size: int = 16, seed: int = 0) -> Path:
    """input -> Conv/Relu -> [Conv/Relu -> Conv] + skip -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, shape: tuple[int, ...], scale: float = 0.3) -> object:
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    inits = [weight("w0", (channels, 3, 3, 3)), weight("b0", (channels,), 0.1),
             weight("w1", (channels, channels, 3, 3), 0.2), weight("b1", (channels,), 0.1),
             weight("w2", (channels, channels, 3, 3), 0.2), weight("b2", (channels,), 0.1),
             weight("fw", (classes, channels)), weight("fb", (classes,), 0.1)]
    nodes = [
        helper.make_node("Conv", ["input", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], name="conv0"),
        helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Add", ["r0", "c2"], ["sum"], name="residual_add"),
        helper.make_node("Relu", ["sum"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], transB=1, name="fc"),
        helper.make_node("Softmax", ["z"], ["probs"], axis=1, name="softmax"),
    ]
    info = ModelInfo(name="residual_cnn", inputs=(InputSpec("input", ("batch", 3, size, size), "float32", -2.0, 2.0),),
                     output_names=("probs",), preprocessing=Preprocessing(resize=size + 2, crop=size))
    return _save(path, nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
                 [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", classes])], inits, info)


def feature_mlp(path: Path, features: int = 16, hidden: int = 32, classes: int = 4, big_scale: float = 1.0, seed: int = 0) -> Path:
    """A non-image model: x[batch, features] -> MatMul -> Relu -> Mul(big_scale) -> Exp-free head -> MatMul -> logits.

    ``big_scale`` pushes the hidden activations past the FP16 safe range when large."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (features, hidden)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.5, (hidden, classes)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array(big_scale, dtype=np.float32), "scale"),
             numpy_helper.from_array(np.array(1.0 / big_scale, dtype=np.float32), "unscale")]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        helper.make_node("Mul", ["hr", "scale"], ["big"], name="scale_up"),
        helper.make_node("Mul", ["big", "unscale"], ["back"], name="scale_down"),
        helper.make_node("MatMul", ["back", "w2"], ["logits"], name="mm2"),
    ]
    info = ModelInfo(name="feature_mlp", inputs=(InputSpec("x", ("batch", features), "float32", -1.0, 1.0),),
                     output_names=("logits",), task="tabular")
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], inits, info)


def tiny_detector(path: Path, size: int = 32, classes: int = 3, logit_scale: float = 8.0, seed: int = 0) -> Path:
    """A YOLO-style head: images[batch,3,size,size] (pixels 0..1) -> Conv s2 -> Relu -> Conv s2 -> Relu, then
    boxes = Sigmoid(Conv 1x1) * size (pixels) and scores = Sigmoid(Conv 1x1) (0..1) -> Concat(axis 1)
    -> Reshape -> Transpose -> detections[batch, anchors, 4 + classes]. ``logit_scale`` spreads the class
    logits as a trained head's are (scores across 0..1, not all near 0.5)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, shape: tuple[int, ...], scale: float) -> object:
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.normal(0, scale / np.sqrt(fan_in), shape)).astype(np.float32), name)

    anchors = (size // 4) ** 2
    inits = [weight("w1", (16, 3, 3, 3), 2.0), weight("b1", (16,), 0.1), weight("w2", (16, 16, 3, 3), 2.0),
             weight("b2", (16,), 0.1), weight("box_w", (4, 16, 1, 1), 1.0), weight("box_b", (4,), 0.1),
             weight("cls_w", (classes, 16, 1, 1), logit_scale), weight("cls_b", (classes,), 0.1),
             numpy_helper.from_array(np.array(float(size), np.float32), "pixels"),
             numpy_helper.from_array(np.array([0, 4 + classes, anchors], np.int64), "flat")]
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "box_w", "box_b"], ["box_logits"], name="box"),
        helper.make_node("Sigmoid", ["box_logits"], ["box_unit"], name="box_sigmoid"),
        helper.make_node("Mul", ["box_unit", "pixels"], ["boxes"], name="to_pixels"),
        helper.make_node("Conv", ["r2", "cls_w", "cls_b"], ["cls_logits"], name="cls"),
        helper.make_node("Sigmoid", ["cls_logits"], ["scores"], name="cls_sigmoid"),
        helper.make_node("Concat", ["boxes", "scores"], ["joined"], axis=1, name="join"),
        helper.make_node("Reshape", ["joined", "flat"], ["flattened"], name="flatten"),
        helper.make_node("Transpose", ["flattened"], ["detections"], perm=[0, 2, 1], name="to_anchors"),
    ]
    info = ModelInfo(name="tiny_detector", inputs=(InputSpec("images", ("batch", 3, size, size), "float32", 0.0, 1.0),),
                     output_names=("detections",),
                     preprocessing=Preprocessing(resize=size, crop=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))
    return _save(path, nodes, [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
                 [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["batch", anchors, 4 + classes])], inits, info)


def run_precision_pass(pass_: object, onnx_path: Path, run_dir: Path, precision: str, calib: Path | None = None) -> object:
    """Run one precision pass directly on an ONNX file, as the pipeline would (work folder, context)."""
    from compile.artifacts import OnnxModel
    from compile.onnx_io import read_model_info
    from compile.passes.base import Pass, PassContext
    from compile.profiles import load_profile
    from compile.settings import RunSettings

    assert isinstance(pass_, Pass)
    settings = RunSettings(model=str(onnx_path), precision=precision, calib=calib)
    work = run_dir / f".work-{pass_.name}"
    work.mkdir(parents=True, exist_ok=True)
    source = OnnxModel(path=onnx_path)
    ctx = PassContext(settings, load_profile("cpu"), run_dir, work, {"onnx": source}, log=lambda line: None,
                      info=read_model_info(onnx_path))
    return pass_.run({"onnx": source}, ctx)


def initializer_arrays(model: object) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}  # type: ignore[attr-defined]
