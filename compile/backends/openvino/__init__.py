"""OpenVINO backend: ONNX -> OpenVINO IR, compiled for an x86 CPU (or an Intel GPU where present).

``builder`` converts and compiles, ``compat`` decides whether a built IR may be loaded here, ``runner``
runs it. ``openvino`` is imported only inside functions.
"""
