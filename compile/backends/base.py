"""The runner contract, after Polygraphy: a context manager with ``activate / infer / deactivate``.

The public methods check state and inputs; backends implement only the ``*_impl`` methods.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np

from compile.errors import UserInputError


class Runner:
    name = "runner"

    def __init__(self) -> None:
        self.is_active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self.is_active:
            self.activate_impl()
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self.deactivate_impl()
            self.is_active = False

    def input_names(self) -> list[str]:
        self._require_active()
        return self.input_names_impl()

    def output_names(self) -> list[str]:
        self._require_active()
        return self.output_names_impl()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._require_active()
        expected = set(self.input_names_impl())
        if set(feed) != expected:
            raise UserInputError(f"{self.name}: inputs {sorted(feed)} do not match the model's inputs {sorted(expected)}")
        return self.infer_impl(feed)

    def _require_active(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self.name} is not active; use it as a context manager")

    # Backends implement these.
    def activate_impl(self) -> None:
        raise NotImplementedError

    def deactivate_impl(self) -> None:
        raise NotImplementedError

    def input_names_impl(self) -> list[str]:
        raise NotImplementedError

    def output_names_impl(self) -> list[str]:
        raise NotImplementedError

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError
