"""The 2:4 mask rule on numpy arrays: keep the 2 largest magnitudes of every 4 along one axis.

Ties are broken by position (the earlier weight wins), so the mask is deterministic. The axis
length must be divisible by 4; callers check eligibility first.
"""

from __future__ import annotations

import numpy as np

from compile.errors import PassError

GROUP = 4
KEEP = 2
PATTERN = "2:4"


def _grouped(array: np.ndarray, axis: int) -> np.ndarray:
    """``array`` with ``axis`` moved last and split into groups of 4: shape (..., n // 4, 4)."""
    axis = axis % array.ndim
    length = array.shape[axis]
    if length % GROUP:
        raise PassError(f"a 2:4 pattern needs the reduction axis divisible by 4, got {length} (shape {array.shape})")
    moved = np.moveaxis(array, axis, -1)
    return moved.reshape(*moved.shape[:-1], length // GROUP, GROUP)


def two_four_mask(weight: np.ndarray, axis: int) -> np.ndarray:
    """Boolean mask of ``weight``'s shape: True for the 2 largest |w| in each group of 4 along ``axis``."""
    groups = _grouped(np.abs(np.asarray(weight, dtype=np.float64)), axis)
    # Stable sort of -|w|: among equal magnitudes the lower index comes first and is kept.
    order = np.argsort(-groups, axis=-1, kind="stable")
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :KEEP], True, axis=-1)
    moved_shape = np.moveaxis(np.empty(weight.shape, dtype=np.bool_), axis % weight.ndim, -1).shape
    return np.moveaxis(keep.reshape(moved_shape), -1, axis % weight.ndim)


def apply_two_four(weight: np.ndarray, axis: int) -> np.ndarray:
    """``weight`` with the 2 smallest magnitudes of each group of 4 along ``axis`` set to zero."""
    return np.where(two_four_mask(weight, axis), weight, np.zeros((), dtype=weight.dtype)).astype(weight.dtype)


def is_two_four(weight: np.ndarray, axis: int) -> bool:
    """True when every group of 4 along ``axis`` has at most 2 non-zero weights."""
    if weight.shape[axis % weight.ndim] % GROUP:
        return False
    nonzero = (_grouped(np.asarray(weight), axis) != 0).sum(axis=-1)
    return bool((nonzero <= KEEP).all())


def violating_groups(weight: np.ndarray, axis: int) -> int:
    """How many groups of 4 along ``axis`` hold more than 2 non-zero weights."""
    nonzero = (_grouped(np.asarray(weight), axis) != 0).sum(axis=-1)
    return int((nonzero > KEEP).sum())
