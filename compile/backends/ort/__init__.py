"""ONNX Runtime: the embedded default backend (CPU here; CUDA/TensorRT providers with onnxruntime-gpu)."""
