"""Which layers may carry 2:4: only those TensorRT can run with sparse kernels, and only where it pays.

A layer is eligible when its reduction axis (input channels of a Conv, K of Gemm/MatMul) is divisible
by 4, it is not depthwise or grouped, it is not the model's first convolution, both its input and
output channel counts reach ``min_channels`` (sparse kernels win mainly at large channel counts),
its kernel is at least ``min_kernel`` wide, and no ``exclude`` pattern (``fnmatch`` globs) matches
any of its names. The same rules serve the PyTorch pass, the ONNX pass and the verifier.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from compile.sparsity.mask import GROUP

#: Defaults mirror compile.profiles.Sparsity.
DEFAULT_MIN_CHANNELS = 256


@dataclass(frozen=True)
class SparsityRules:
    min_channels: int = DEFAULT_MIN_CHANNELS
    #: Glob patterns matched against a layer's names (module name, ONNX node name, weight name).
    exclude: tuple[str, ...] = ()
    #: Smallest kernel side (1 keeps 1x1 convs eligible; 3 prunes only 3x3 and larger).
    min_kernel: int = 1
    skip_first_conv: bool = True


@dataclass(frozen=True)
class LayerDesc:
    """What the rules need to know about one Conv/Linear (Gemm/MatMul) layer."""

    name: str
    op: str
    in_channels: int
    out_channels: int
    groups: int = 1
    kernel: tuple[int, ...] = ()
    #: The first convolution of the model (often 3 input channels, and accuracy-critical).
    first_conv: bool = False
    #: Other names the layer is known by (weight initializer, module path).
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels


def ineligibility(layer: LayerDesc, rules: SparsityRules) -> str | None:
    """``None`` if the layer may be pruned to 2:4, else the reason it may not (one short phrase)."""
    if layer.depthwise:
        return "depthwise"
    if layer.groups != 1:
        return f"grouped (groups={layer.groups})"
    if layer.in_channels % GROUP:
        return f"input channels {layer.in_channels} not divisible by 4"
    if rules.skip_first_conv and layer.first_conv:
        return "first convolution"
    if min(layer.in_channels, layer.out_channels) < rules.min_channels:
        return f"channels {layer.in_channels}->{layer.out_channels} below min_channels {rules.min_channels}"
    if layer.kernel and min(layer.kernel) < rules.min_kernel:
        return f"kernel {'x'.join(map(str, layer.kernel))} below min_kernel {rules.min_kernel}"
    for pattern in rules.exclude:
        if any(fnmatch.fnmatchcase(name, pattern) for name in (layer.name, *layer.aliases)):
            return f"excluded by '{pattern}'"
    return None
