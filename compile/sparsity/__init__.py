"""2:4 structured sparsity: the mask rule, which layers may carry it, pruning (PyTorch and ONNX),
recovery by distillation, and verification of the final graph.

In every group of 4 consecutive weights along a layer's input-channel axis (Conv's axis 1, the K
axis of Gemm/MatMul) the 2 of largest magnitude are kept: the pattern the sparse tensor cores of
Ampere and newer GPUs run. Only :mod:`compile.sparsity.mask` and :mod:`compile.sparsity.eligibility`
are imported eagerly by the passes; torch is imported only where pruning or recovery needs it.
"""
