"""The 2:4 mask rule on hand-made tensors."""

from __future__ import annotations

import numpy as np
import pytest

from compile.errors import PassError
from compile.sparsity.mask import apply_two_four, is_two_four, two_four_mask, violating_groups


def test_keeps_two_largest_magnitudes_negative_values_count_by_magnitude() -> None:
    w = np.array([[0.1, -0.9, 0.5, -0.2, -3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
    assert two_four_mask(w, axis=1).astype(int).tolist() == [[0, 1, 1, 0, 1, 1, 0, 0]]
    assert apply_two_four(w, axis=1)[0].tolist() == pytest.approx([0.0, -0.9, 0.5, 0.0, -3.0, 2.0, 0.0, 0.0])


def test_ties_keep_the_earlier_weights() -> None:
    w = np.array([[1.0, 1.0, 1.0, 1.0], [-2.0, 2.0, 2.0, -2.0], [0.0, 0.0, 0.0, 0.0], [0.5, -3.0, 0.5, 0.5]], dtype=np.float32)
    mask = two_four_mask(w, axis=1).astype(int).tolist()
    assert mask == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]
    assert (mask == two_four_mask(w.copy(), axis=1).astype(int).tolist())  # deterministic


def test_conv_weight_groups_run_along_input_channels_only() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 8, 3, 3)).astype(np.float32)
    pruned = apply_two_four(w, axis=1)
    assert is_two_four(pruned, axis=1)
    assert (pruned == 0).mean() == 0.5
    # every (out, kh, kw) position keeps exactly 2 of each 4 consecutive input channels
    groups = (pruned.reshape(6, 2, 4, 3, 3) != 0).sum(axis=2)
    assert (groups == 2).all()
    assert not is_two_four(pruned, axis=0)  # not the pattern along the output axis


def test_gemm_layouts_pick_the_k_axis() -> None:
    rng = np.random.default_rng(1)
    w_nk = rng.normal(size=(5, 8)).astype(np.float32)  # Gemm transB=1: [N, K]
    assert is_two_four(apply_two_four(w_nk, axis=1), axis=1)
    w_kn = rng.normal(size=(8, 5)).astype(np.float32)  # MatMul / Gemm transB=0: [K, N]
    pruned = apply_two_four(w_kn, axis=0)
    assert is_two_four(pruned, axis=0) and (pruned != 0).sum(axis=0).tolist() == [4] * 5


def test_channels_not_divisible_by_four() -> None:
    w = np.ones((4, 6), dtype=np.float32)
    with pytest.raises(PassError, match="divisible by 4"):
        two_four_mask(w, axis=1)
    assert not is_two_four(np.zeros((4, 6), dtype=np.float32), axis=1)


def test_verification_counts_broken_groups() -> None:
    w = apply_two_four(np.arange(1, 17, dtype=np.float32).reshape(2, 8), axis=1)
    assert violating_groups(w, axis=1) == 0
    w[1, 4:8] = 1.0
    assert violating_groups(w, axis=1) == 1 and not is_two_four(w, axis=1)
