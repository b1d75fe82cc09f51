"""Shared shapes of passes: those that read calibration inputs, and those that act on 2:4 runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from compile.artifacts import ONNX
from compile.passes.base import Pass, PassContext, PassOptions
from compile.sparsity.options import DENSE_SKIP, RulesOptions, rules_from_profile

if TYPE_CHECKING:
    from compile.calibration.source import CalibrationSource
    from compile.profiles import Profile
    from compile.settings import RunSettings


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
        from compile.calibration.source import calibration_source

        return calibration_source(ctx, self.options.size, self.options.batch_size)


class SparsityRulesPass(Pass):
    """An ONNX-to-ONNX pass of 2:4 runs, with the eligibility rules of the profile's ``[sparsity]`` section."""

    consumes = (ONNX,)
    produces = ONNX
    Options = RulesOptions
    options: RulesOptions

    @classmethod
    def resolve_options(cls, entry_options: dict[str, Any], profile: Profile, settings: RunSettings) -> dict[str, Any]:
        return {**rules_from_profile(profile), **entry_options}

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.sparsity == "2:4" else DENSE_SKIP
