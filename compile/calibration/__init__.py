"""Calibration for post-training precision passes (INT8 ranges, FP16 overflow checks).

``source``: which inputs calibrate a model (an image folder through the model's own preprocessing, the
embedded sample, or generated inputs) and their identity for cache keys; ``reader``: ONNX Runtime's
``CalibrationDataReader`` over a stream of batches; ``ranges``: tensor ranges computed with ONNX
Runtime's calibrators, one batch at a time; ``cache``: ranges saved by model, data and method.
"""
