"""Version-faithful fakes of the ``tensorrt`` module, generated from ``tables.py``.

:func:`make_module` builds a module for one TensorRT version: every enum of the table with exactly that
version's members and values, and the classes the tool touches (``fake_build.py``, ``fake_runtime.py``),
whose public members are those the version's bindings define. A member another version has and this one
lacks raises AttributeError, as the real module does (``trt.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY``
on 10.3, ``trt.BuilderFlag.FP16`` on 11.1); calls are recorded in ``module._fake.calls``.
"""

from __future__ import annotations

import importlib.machinery
import types
from pathlib import Path
from typing import Any

import numpy as np

from tests.trt.fakes import tables
from tests.trt.fakes.fake_api import (
    NUMPY_TYPES,
    Api,
    Dims,
    FakeDevice,
    ILogger,
    IOutputAllocator,
    IProfiler,
    Logger,
    Overridable,
    State,
    make_enum,
    parse_members,
    version_key,
)
from tests.trt.fakes.fake_build import (
    Builder,
    IBuilderConfig,
    IHostMemory,
    INetworkDefinition,
    IOptimizationProfile,
    ITensor,
    ITimingCache,
    OnnxParser,
    ParserError,
)
from tests.trt.fakes.fake_runtime import EngineInspector, ICudaEngine, IExecutionContext, Runtime, read_plan

__all__ = ["FakeDevice", "State", "fake_root", "install_into", "make_module", "module_from_config", "read_plan"]


# -- the module -------------------------------------------------------------------------------------------
CLASSES: list[type[Api]] = [ILogger, Logger, IProfiler, IOutputAllocator, ITensor, INetworkDefinition, ParserError,
                            OnnxParser, IOptimizationProfile, IHostMemory, ITimingCache, IBuilderConfig, Builder,
                            Runtime, EngineInspector, ICudaEngine, IExecutionContext]
for _impl in (Overridable, *CLASSES):
    _impl._fake_class = True  # set in each class's own namespace: not a user subclass

DTYPE_ALIASES = {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16", "int8": "INT8", "int32": "INT32",
                 "int64": "INT64", "bool": "BOOL", "uint8": "UINT8", "fp8": "FP8", "int4": "INT4", "fp4": "FP4",
                 "e8m0": "E8M0"}


def make_module(version: str, device: FakeDevice | None = None, cuda: Any = None,
                quirks: set[str] | None = None) -> types.ModuleType:
    """A fake ``tensorrt`` module of ``version`` (a key of ``tables.CLASSES``) on ``device``, executing on the
    fake ``cuda``. Its ``_fake`` attribute is the :class:`State` (calls, logs, quirks)."""
    if version not in tables.CLASSES:
        raise ValueError(f"no table for TensorRT {version} (tables: {sorted(tables.CLASSES)})")
    state = State(version, device or FakeDevice(), cuda, set(quirks or ()))
    module = types.ModuleType("tensorrt")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    module.__version__ = version  # type: ignore[attr-defined]
    module._fake = state  # type: ignore[attr-defined]
    state.module = module
    enums = {name: make_enum(name, parse_members(text)) for name, text in tables.ENUMS[version].items()}
    for name, enum in enums.items():
        if name != "Severity":
            setattr(module, name, enum)
    allowed = {name: frozenset(text.split()) for name, text in tables.CLASSES[version].items()}
    for impl in CLASSES:
        cls = type(impl._api, (impl,), {"_fake_class": True, "_allowed": allowed.get(impl._api, frozenset()),
                                         "_state": state, "__module__": "tensorrt.tensorrt"})
        setattr(module, impl._api, cls)
    # ILogger.Severity, exported into ILogger's scope (trt.ILogger.WARNING, trt.Logger.WARNING).
    severity = enums["Severity"]
    for cls in (module.ILogger, module.Logger):
        cls.Severity = severity
        for member_name, member in severity.__members__.items():
            setattr(cls, member_name, member)
    module.Dims = Dims  # type: ignore[attr-defined]
    functions = set(tables.MODULE[version].split())
    for alias, member_name in DTYPE_ALIASES.items():
        if alias in functions:
            setattr(module, alias, getattr(module.DataType, member_name))

    def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
        state.record("init_libnvinfer_plugins", (logger, namespace))
        logger._require_init()
        state.plugins_initialised = True
        return True

    def get_nv_onnx_parser_version() -> int:
        major, minor, patch = version_key(version)
        return major * 10000 + minor * 100 + patch

    for name, function in (("init_libnvinfer_plugins", init_libnvinfer_plugins),
                           ("get_nv_onnx_parser_version", get_nv_onnx_parser_version)):
        if name in functions:
            setattr(module, name, function)
    # Python-level helpers of the tensorrt package's __init__.py (all tabled versions have them).
    module.volume = lambda shape: int(np.prod(list(shape), dtype=np.int64))  # type: ignore[attr-defined]
    module.nptype = lambda dtype: NUMPY_TYPES[dtype.name]  # type: ignore[attr-defined]
    return module


def module_from_config(config: dict[str, Any], cuda: Any = None) -> types.ModuleType:
    """A fake module from a JSON-able config: {"version", "device": FakeDevice fields, "quirks"}."""
    return make_module(config["version"], FakeDevice(**config.get("device", {})), cuda, set(config.get("quirks", ())))


def install_into(target: types.ModuleType, config: dict[str, Any], cuda: Any) -> None:
    """Fill the module ``target`` (the ``tensorrt`` shim a child process imports) with a fake's contents."""
    fake = module_from_config(config, cuda)
    for name, value in vars(fake).items():
        if name not in ("__name__", "__spec__", "__loader__", "__path__", "__file__", "__package__"):
            setattr(target, name, value)
    fake._fake.module = target  # type: ignore[attr-defined]


def fake_root() -> Path:
    """The folder holding the ``tensorrt`` shim package for child processes."""
    return Path(__file__).resolve().parent / "site"
