"""The project's one error hierarchy.

Every error a user can cause derives from :class:`CompileError`; the CLI turns it into one line on
stderr and the error's ``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CompileError(Exception):
    """Base class: a problem the user can act on. ``exit_code`` 2 means bad usage or bad input."""

    exit_code = 2


class UserInputError(CompileError):
    """A missing file, a bad argument, unusable data."""


class ModelNotFoundError(UserInputError):
    """A model name or path that resolves to nothing."""


class OnnxModelError(UserInputError):
    """An ONNX file that cannot be read, checked or run."""


class ProfileError(UserInputError):
    """A profile that is missing, malformed or contradictory."""


class PassError(CompileError):
    """A pass could not do its job on this input (an unsupported op, a parity failure, ...)."""


class MissingDependencyError(CompileError):
    """An optional package needed for this run is not installed."""

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        hint = f" (pip install 'compile[{extra}]')" if extra else f" (pip install {package})"
        super().__init__(f"{purpose} needs the '{package}' package, which is not installed{hint}")
        self.package = package


class OutputError(UserInputError):
    """The output folder cannot be written."""


class GateFailedError(CompileError):
    """The artifact was built but a gate (accuracy, latency) failed. Exit code 1."""

    exit_code = 1
