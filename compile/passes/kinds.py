"""Shared shapes of passes: those that read calibration inputs, and those that act on 2:4 runs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compile.artifacts import ONNX
from compile.calibration.source import CalibrationSource
from compile.passes.base import Pass, PassContext, PassOptions
from compile.settings import RunSettings
from compile.sparsity.eligibility import SparsityRules

#: Why a 2:4 pass does not run.
DENSE_SKIP = "dense run (--sparsity 2:4 prunes)"


class CalibrationOptions(PassOptions):
    #: Calibration samples and the batch they are run in.
    size: int = Field(default=64, ge=1)
    batch_size: int = Field(default=8, ge=1)


class CalibratedPass(Pass):
    """A pass that reads calibration inputs: its stage is redone when they change."""

    options: CalibrationOptions

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        return {"calibration": self.calibration(ctx).identity()}

    def calibration(self, ctx: PassContext) -> CalibrationSource:
        """This run's calibration inputs: ``--calib`` (or the embedded sample), or generated inputs for a
        model that takes no images."""
        return CalibrationSource(ctx.model_info(), ctx.settings.calib, self.options.size, self.options.batch_size)


class RulesOptions(PassOptions):
    """The 2:4 eligibility rules (the profile's ``[sparsity]`` section), shared by the three sparsity passes."""

    min_channels: int = Field(default=256, ge=4)
    exclude: list[str] = Field(default_factory=list)
    min_kernel: int = Field(default=1, ge=1)
    skip_first_conv: bool = True

    def rules(self) -> SparsityRules:
        return SparsityRules(min_channels=self.min_channels, exclude=tuple(self.exclude), min_kernel=self.min_kernel,
                             skip_first_conv=self.skip_first_conv)


class SparsityRulesPass(Pass):
    """An ONNX-to-ONNX pass of 2:4 runs, with the eligibility rules of the profile's ``[sparsity]`` section."""

    consumes = (ONNX,)
    produces = ONNX
    Options = RulesOptions
    options: RulesOptions

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.sparsity == "2:4" else DENSE_SKIP
