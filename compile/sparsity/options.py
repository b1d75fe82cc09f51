"""Options the three sparsity passes share: the eligibility rules, filled from the profile's [sparsity]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from compile.passes.base import PassOptions
from compile.sparsity.eligibility import SparsityRules

if TYPE_CHECKING:
    from compile.profiles import Profile

DENSE_SKIP = "dense run (--sparsity 2:4 prunes)"
ORT_NOTE = ("ONNX Runtime has no 2:4 sparse kernels: on this profile sparsity is an accuracy study and gains no speed; "
            "the pattern pays off on GPUs with sparse tensor cores (TensorRT)")


class RulesOptions(PassOptions):
    min_channels: int = Field(default=256, ge=4)
    exclude: list[str] = Field(default_factory=list)
    min_kernel: int = Field(default=1, ge=1)
    skip_first_conv: bool = True

    def rules(self) -> SparsityRules:
        return SparsityRules(min_channels=self.min_channels, exclude=tuple(self.exclude), min_kernel=self.min_kernel,
                             skip_first_conv=self.skip_first_conv)


def rules_from_profile(profile: Profile) -> dict[str, Any]:
    section = profile.sparsity
    options: dict[str, Any] = {"min_channels": section.min_channels, "exclude": list(section.exclude)}
    for key in ("min_kernel", "skip_first_conv"):
        if hasattr(section, key):
            options[key] = getattr(section, key)
    return options
