"""The fakes' foundation: the device and state a fake module runs with, pybind11-like enums, and the base
class that holds every fake class to one TensorRT version's members (see ``fake_tensorrt.py``).

A public member outside the version's table raises AttributeError, as the real module does; a tabled
member the fake lacks raises NotImplementedError, so a gap in the fake is never mistaken for the real
behaviour; calls of tabled members and sets of tabled properties are recorded in ``State.calls``.
"""

from __future__ import annotations

import functools
import itertools
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from tests.trt.fakes import tables

PLAN_MAGIC = b"FAKETRTPLAN\x00"
CACHE_MAGIC = b"FAKETRTCACHE\x00"
NUMPY_TYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
               "BOOL": np.bool_, "UINT8": np.uint8}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3])


@dataclass(frozen=True)
class FakeDevice:
    """The machine the fake runs on: CUDA's name, compute capability, DLA cores, platform."""

    name: str = "NVIDIA A100-SXM4-80GB"
    compute_capability: str = "8.0"
    dla_cores: int = 0
    jetson_module: str | None = None
    machine: str = "x86_64"
    sparse_tensor_cores: bool = True

    @property
    def cc(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compute_capability": self.compute_capability, "dla_cores": self.dla_cores,
                "jetson_module": self.jetson_module, "machine": self.machine,
                "sparse_tensor_cores": self.sparse_tensor_cores}


@dataclass
class State:
    """One fake module's world: its version and device, the fake CUDA it runs on, what was called."""

    version: str
    device: FakeDevice
    cuda: Any = None
    quirks: set[str] = field(default_factory=set)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    plugins_initialised: bool = False
    module: Any = None

    def record(self, what: str, args: tuple[Any, ...]) -> None:
        self.calls.append((what, args))

    def called(self, what: str) -> list[tuple[Any, ...]]:
        """The arguments of every recorded call (or property set, ``"Class.prop="``) named ``what``."""
        return [args for name, args in self.calls if name == what]

    @property
    def has_dla(self) -> bool:
        found = version_key(self.version)
        return found[:2] <= (10, 7) if found[0] == 10 else found >= (11, 4, 1)

    def enum(self, name: str) -> Any:
        return getattr(self.module, name)

    def log(self, logger: Any, severity: str, message: str) -> None:
        self.logs.append((severity, message))
        logger.log(getattr(self.module.ILogger.Severity, severity), message)


# -- enums ------------------------------------------------------------------------------------------------
class EnumMember:
    """A pybind11 enum value: ``name``, ``value``, ``int()``, equal only to the same member."""

    __slots__ = ("_enum", "_name", "_value")

    def __init__(self, enum: str, name: str, value: int) -> None:
        self._enum, self._name, self._value = enum, name, value

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> int:
        return self._value

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumMember) and (other._enum, other._value) == (self._enum, self._value)

    def __hash__(self) -> int:
        return hash((self._enum, self._value))

    def __repr__(self) -> str:
        return f"<{self._enum}.{self._name}: {self._value}>"


def parse_members(text: str) -> dict[str, int]:
    return {name: int(value) for name, value in (item.split("=") for item in text.split())}


def make_enum(name: str, members: dict[str, int]) -> type:
    cls = type(name, (), {"__module__": "tensorrt.tensorrt", "__members__": {}})
    for member, value in members.items():
        item = EnumMember(name, member, value)
        cls.__members__[member] = item  # type: ignore[attr-defined]
        setattr(cls, member, item)
    return cls


# -- API classes ------------------------------------------------------------------------------------------
@functools.cache
def _universe(api: str) -> frozenset[str]:
    """Every public member any tabled version defines on ``api``."""
    return frozenset(itertools.chain.from_iterable(v.get(api, "").split() for v in tables.CLASSES.values()))


class Api:
    """Base of the fake classes. A public member outside this version's table raises AttributeError (members
    a Python subclass defines itself excepted), a tabled member the fake lacks raises NotImplementedError,
    calls of tabled members and sets of tabled properties are recorded."""

    _fake_class: ClassVar[bool] = True
    _api: ClassVar[str] = ""
    _allowed: ClassVar[frozenset[str]] = frozenset()
    _state: ClassVar[State]

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_"):
            return object.__getattribute__(self, name)
        cls = type(self)
        if name not in cls._allowed and not _user_member(self, name):
            raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")
        value = object.__getattribute__(self, name)
        if name in cls._allowed and callable(value) and not isinstance(value, type):
            state, label = cls._state, f"{cls._api}.{name}"

            def recorded(*args: Any, **kwargs: Any) -> Any:
                state.record(label, args + tuple(kwargs.values()))
                return value(*args, **kwargs)

            return recorded
        return value

    def __getattr__(self, name: str) -> Any:
        cls = type(self)
        if name in cls._allowed:
            raise NotImplementedError(f"the fake tensorrt {cls._state.version} does not implement {cls._api}.{name}")
        raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            cls = type(self)
            if name in cls._allowed:
                cls._state.record(f"{cls._api}.{name}=", (value,))
            elif name in _universe(cls._api) or not _user_class(cls):
                raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")
        object.__setattr__(self, name, value)


def _user_class(cls: type) -> bool:
    """Whether ``cls`` is a Python subclass of a fake class (a logger, profiler or allocator of the tool)."""
    return "_fake_class" not in vars(cls)


def _user_member(obj: Any, name: str) -> bool:
    """Whether ``name`` is the tool's own: set on the instance, or defined by a Python subclass."""
    if name in object.__getattribute__(obj, "__dict__"):
        return True
    return any(name in vars(k) for k in type(obj).__mro__ if "_fake_class" not in vars(k) and k is not object)


class Overridable(Api):
    """A class Python code subclasses (ILogger, IProfiler, IOutputAllocator): pybind11 needs the base
    ``__init__`` called, or using the object fails."""

    def __init__(self) -> None:
        object.__setattr__(self, "_initialised", True)

    def _require_init(self) -> None:
        if not getattr(self, "_initialised", False):
            raise TypeError(f"{type(self).__name__}.__init__() must be called when overriding __init__")


class Dims(tuple):  # type: ignore[type-arg]
    """``trt.Dims``: a sequence of ints."""

    def __new__(cls, shape: Any = ()) -> Dims:
        return super().__new__(cls, (int(d) for d in shape))


class ILogger(Overridable):
    _api = "ILogger"

    def log(self, severity: Any, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    """``trt.Logger``: writes messages at or above ``min_severity`` (to stderr here)."""

    _api = "Logger"

    def __init__(self, min_severity: Any = None) -> None:
        super().__init__()
        self.min_severity = min_severity if min_severity is not None else type(self)._state.enum("ILogger").Severity.WARNING

    def log(self, severity: Any, msg: str) -> None:
        if int(severity) <= int(self.min_severity):
            print(f"[TRT] [{severity.name[0]}] {msg}", file=sys.stderr)


class IProfiler(Overridable):
    _api = "IProfiler"

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        raise NotImplementedError


class IOutputAllocator(Overridable):
    _api = "IOutputAllocator"
