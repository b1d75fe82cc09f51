"""User metrics: ``--metric package.module:function`` (or the name of an entry point in ``compile.metrics``).

The function is called once per comparison as ``function(reference, candidate, labels=..., metadata=...)``:

- ``reference``, ``candidate``: output name -> numpy array, batch first (the reference FP32 outputs and the
  artifact's, on the same inputs, in the same order);
- ``labels``: the data's integer labels (``list[int]``, one per sample) or ``None``;
- ``metadata``: the data's other per-sample arrays (an ``.npz``'s arrays that are not model inputs, such as
  ground-truth boxes), name -> array, possibly empty.

It returns named figures, ``{"map50": 0.91}``: each name (lower case, digits, ``_``) becomes a metric that gates
can name (``min_map50 = 0.5``) and that ``report.json`` lists under ``accuracy.user_metrics``. A function may
declare its names up front as ``function.metric_names = ("map50",)``: gates on them are then checked before
anything runs; otherwise a gate naming neither a built-in metric nor one the function returned is refused once
it has run. A function that raises, returns something other than a mapping of names to real numbers, or
returns a built-in metric's name is one UserInputError (exit 2) naming it.
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from compile.errors import UserInputError
from compile.hashing import hash_file

ENTRY_POINT_GROUP = "compile.metrics"
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class UserMetric:
    """A loaded user metric: what the user wrote (``spec``), the function, and the names it declares (if any)."""

    spec: str
    function: Callable[..., Any]

    @property
    def declared(self) -> tuple[str, ...] | None:
        names = getattr(self.function, "metric_names", None)
        return tuple(str(name) for name in names) if names is not None else None

    def code_identity(self) -> str:
        """The spec and the hash of the file defining the function: a changed metric is measured again, not reused."""
        try:
            source = inspect.getsourcefile(self.function)
        except TypeError:
            source = None
        return f"{self.spec}:{hash_file(Path(source)) if source else 'no source file'}"

    def __call__(self, reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], labels: list[int] | None,
                 metadata: Mapping[str, np.ndarray] | None, builtin: set[str]) -> dict[str, float]:
        """The figures, checked: names that gates can use and that do not shadow ``builtin`` metric names, real numbers."""
        try:
            produced = self.function(dict(reference), dict(candidate), labels=labels, metadata=dict(metadata or {}))
        except Exception as err:  # noqa: BLE001 - user code: any failure is one clear line
            raise UserInputError(f"--metric {self.spec} failed: {type(err).__name__}: {err}") from err
        if not isinstance(produced, Mapping) or not produced:
            raise UserInputError(f"--metric {self.spec} returned {type(produced).__name__}, not a mapping of names to numbers "
                                 "(e.g. {'map50': 0.91})")
        figures: dict[str, float] = {}
        for name, value in produced.items():
            if not isinstance(name, str) or not METRIC_NAME.match(name):
                raise UserInputError(f"--metric {self.spec} returned the name {name!r}: names are lower case letters, digits "
                                     "and _, starting with a letter (a gate is min_<name> or max_<name>)")
            if name in builtin:
                raise UserInputError(f"--metric {self.spec} returned '{name}', a built-in metric's name: give it another")
            number = value.item() if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.size == 1) else value
            if isinstance(number, bool) or not isinstance(number, numbers.Real):
                raise UserInputError(f"--metric {self.spec} returned {name} = {value!r}, not a number")
            figures[name] = float(number)
        if self.declared is not None and (missing := sorted(set(self.declared) - set(figures))):
            raise UserInputError(f"--metric {self.spec} declares {', '.join(missing)} in metric_names but did not return it")
        return figures


def load_user_metric(spec: str) -> UserMetric:
    """``package.module:function``, or the name of an entry point in the ``compile.metrics`` group; a spec that
    names nothing callable is a UserInputError."""
    target = spec
    if ":" not in spec:
        found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if spec not in found:
            known = f"; installed: {', '.join(sorted(found))}" if found else ""
            raise UserInputError(f"--metric {spec}: give package.module:function, or the name of an entry point in the "
                                 f"'{ENTRY_POINT_GROUP}' group{known}")
        target = found[spec]
    module_name, _, attr = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except ImportError as err:
        raise UserInputError(f"--metric {spec}: cannot import {module_name}: {err}") from err
    except AttributeError as err:
        raise UserInputError(f"--metric {spec}: {module_name} has no attribute '{attr}'") from err
    if not callable(function):
        raise UserInputError(f"--metric {spec}: {target} is not callable")
    return UserMetric(spec, function)


def load_user_metrics(specs: list[str] | tuple[str, ...]) -> list[UserMetric]:
    return [load_user_metric(spec) for spec in specs]


def declared_names(metrics: list[UserMetric]) -> tuple[set[str], bool]:
    """The metric names the user metrics declare, and whether every one declares its names (else gates on
    other names can only be checked once they have run)."""
    names: set[str] = set()
    complete = True
    for metric in metrics:
        if metric.declared is None:
            complete = False
        else:
            names.update(metric.declared)
    return names, complete

