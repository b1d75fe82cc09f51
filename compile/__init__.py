"""compile: turn a PyTorch or ONNX model into a validated inference artifact for one hardware target.

Heavy packages (torch, onnxruntime, tensorrt) are imported only by the modules that use them, so
importing this package, the CLI's ``--help`` and profile checks stay fast on any machine.
"""

__version__ = "0.1.0"
