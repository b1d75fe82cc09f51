"""A third-party-style pass used by the entry-point test."""

from compile.artifacts import ONNX
from compile.passes.base import Pass, PassResult


class NoOpPass(Pass):
    name = "my-pass"
    consumes = (ONNX,)

    def run(self, inputs, ctx):  # type: ignore[no-untyped-def]
        return PassResult(None, modified=False)
