"""Automatic mixed precision: keep the fewest layers in float that make an INT8 model pass its gates.

* :mod:`compile.mixed.sensitivity` measures the output error each layer causes when it alone is
  quantized (or, in one pass, the error each node adds, from ONNX Runtime's Q/DQ debugging helpers);
* :mod:`compile.mixed.timing` measures what INT8 saves per layer with ONNX Runtime's profiler;
* :mod:`compile.mixed.search` leaves the highest-ranked layers in float, doubling the count until the
  gates pass, then bisects down to the fewest that do;
* :mod:`compile.mixed.keep_float` stops ONNX Runtime from re-quantizing the layers left in float.

The ``mixed-precision`` pass (:mod:`compile.passes.mixed_precision`) drives them; ``--precision best``, which
compiles every candidate precision and keeps the fastest that passes, is a driver (:mod:`compile.drivers.best`).
"""
