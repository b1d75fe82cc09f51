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


#: ONNX Runtime's status prefix ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : ").
_ORT_PREFIX = r"\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*"
#: A C++ source location, the function signature after it and the failed condition
#: ("/src/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(...) a == b was false. ").
_SOURCE_LOCATION = (r"(?:[A-Za-z]:)?[\w./\\+-]+\.(?:h|hpp|cc|cpp|cu|cuh|c):\d+"
                    r"(?:\s+[\w:<>,*& ~]*::[\w~]+\([^()]*\)(?:\s*const)?)?(?:\s+[^.]*? was false\.)?\s*")
_NOISE = (_ORT_PREFIX, _SOURCE_LOCATION, r"Load model from \S+ failed:\s*", r"\s*Please fix either the inputs/outputs or the model\.",
          r"\x1b\[[0-9;]*m")


def error_cause(err: BaseException, limit: int = 600) -> str:
    """The whole cause of a third-party exception on one line, for a one-line error message.

    Libraries (ONNX Runtime above all) spread the cause over several lines, the part naming the axis
    and sizes ("index: 0 Got: 3 Expected: 2") after the first, between their own noise: status codes,
    C++ source paths and line numbers, the failed assertion. The noise goes, the lines are joined, and
    the text is cut at ``limit`` characters. An exception without text gives its type's name."""
    import re

    text = str(err)
    for pattern in _NOISE:
        text = re.sub(pattern, "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = ""
    for line in lines:
        joined += line if not joined else (" " if joined[-1] in ".:;,!?" else ": ") + line
    if not joined:
        return type(err).__name__
    return joined if len(joined) <= limit else joined[:limit - 3].rstrip() + "..."
