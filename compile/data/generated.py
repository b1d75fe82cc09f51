"""Generated inputs for models that do not take images (token ids, feature vectors)."""

from __future__ import annotations

import numpy as np

from compile.models.spec import InputSpec


def generate_inputs(specs: tuple[InputSpec, ...], count: int, seed: int = 0, batch: int | None = None) -> dict[str, np.ndarray]:
    """``count`` samples per input (or ``batch``), in each spec's dtype and value range (seeded: repeatable).

    Dynamic non-batch axes take the spec's ``sizes``; raises UserInputError when one has none."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = spec.concrete_shape(batch or count)
        dtype = np.dtype(spec.dtype)
        if np.issubdtype(dtype, np.integer):
            feeds[spec.name] = rng.integers(int(spec.low), int(spec.high), size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.bool_):
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[spec.name] = rng.uniform(spec.low, spec.high, size=shape).astype(dtype)
    return feeds
