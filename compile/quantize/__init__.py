"""INT8 recipes beyond ONNX Runtime's quantizer: the graph family a recipe is chosen for
(:mod:`compile.quantize.recipe`), SmoothQuant outlier migration before static Q/DQ
(:mod:`compile.quantize.smoothquant`) and dynamic INT8 for ONNX Runtime's CPU kernels
(:mod:`compile.quantize.dynamic`)."""
