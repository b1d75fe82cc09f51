"""Error-compensating INT8 weight rounding (GPTQ): the same scales, better integers.

Rounding each INT8 weight to the nearest step (what ``quantize_static`` does) treats the errors of
a layer's weights as independent. They are not: the layer's inputs are correlated, so an error in
one weight can be cancelled by nudging the weights that see correlated inputs. GPTQ (Frantar et al.,
2023) rounds one input column at a time and spreads each column's error over the columns not yet
rounded, weighted by the inverse of the inputs' second-moment matrix. Scales and zero points are
left exactly as the quantizer chose them, so every backend (ONNX Runtime's QLinear kernels,
TensorRT's explicit Q/DQ) reads the new integers the same way.

- :mod:`~compile.rounding.moments`: each layer's input second moments, from one pass of the float
  model over calibration inputs;
- :mod:`~compile.rounding.gptq`: the rounding itself, for a stack of weight groups;
- :mod:`~compile.rounding.apply`: rewriting the weight integers of a Q/DQ model.
"""
