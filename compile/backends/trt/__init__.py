"""TensorRT backend. ``tensorrt`` is imported only inside this package, and only when used. (ONNX Runtime's
TensorRT execution provider is ONNX Runtime's: ``compile.backends.ort.gpu``.)"""
