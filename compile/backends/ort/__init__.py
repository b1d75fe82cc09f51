"""ONNX Runtime: the embedded default backend. ``builder`` and ``runner``: the CPU artifact (build-ort); ``gpu``:
the TensorRT/CUDA execution providers with onnxruntime-gpu (build-trt with ``runtime = "onnxruntime-gpu"``)."""
