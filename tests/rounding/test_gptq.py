"""GPTQ rounding on small least-squares problems with known answers."""

from __future__ import annotations

import numpy as np

from compile.rounding.gptq import gptq_round, output_error


def _problem(seed: int, groups: int = 1, rows: int = 12, cols: int = 20, correlated: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (groups, rows, cols))
    if correlated:  # inputs that share a common factor, as activations of one layer do
        base = rng.normal(0, 1, (groups, 4000, 3))
        inputs = base @ rng.normal(0, 1, (groups, 3, cols)) + 0.3 * rng.normal(0, 1, (groups, 4000, cols))
        hessian = np.einsum("gni,gnj->gij", inputs, inputs)
    else:
        hessian = np.broadcast_to(np.eye(cols) * 7.0, (groups, cols, cols)).copy()
    scale = np.abs(weights).max(axis=2) / 127.0
    return weights, hessian, scale


def _nearest(weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip(np.round(weights / scale[..., None]), -127, 127)


def test_uncorrelated_inputs_give_round_to_nearest() -> None:
    weights, hessian, scale = _problem(0, correlated=False)
    assert np.array_equal(gptq_round(weights, hessian, scale), _nearest(weights, scale))


def test_correlated_inputs_cut_the_output_error_and_stay_on_the_grid() -> None:
    weights, hessian, scale = _problem(1, groups=2, rows=16, cols=64)
    integers = gptq_round(weights, hessian, scale)
    assert integers.dtype == np.int64 and integers.min() >= -127 and integers.max() <= 127
    nearest = output_error(weights, _nearest(weights, scale) * scale[..., None], hessian)
    gptq = output_error(weights, integers * scale[..., None], hessian)
    assert gptq < 0.5 * nearest
    # Still a rounding: every integer within a few steps of the weight it replaces.
    assert np.abs(integers - weights / scale[..., None]).max() < 4.0


def test_groups_are_solved_independently() -> None:
    weights, hessian, scale = _problem(2, groups=3, rows=5, cols=9)
    together = gptq_round(weights, hessian, scale)
    for group in range(3):
        alone = gptq_round(weights[group:group + 1], hessian[group:group + 1], scale[group:group + 1])
        assert np.array_equal(together[group:group + 1], alone)


def test_blocks_give_the_same_integers_as_one_column_at_a_time(monkeypatch) -> None:
    import compile.rounding.gptq as gptq

    weights, hessian, scale = _problem(3, rows=6, cols=40)
    blocked = gptq_round(weights, hessian, scale)
    monkeypatch.setattr(gptq, "BLOCK", 7)
    assert np.array_equal(gptq_round(weights, hessian, scale), blocked)


def test_an_input_never_seen_is_rounded_alone() -> None:
    weights, hessian, scale = _problem(4, rows=4, cols=6)
    hessian[:, 2, :] = 0.0
    hessian[:, :, 2] = 0.0
    integers = gptq_round(weights, hessian, scale)
    assert np.all(np.isfinite(integers))
    assert np.array_equal(integers[:, :, 2], _nearest(weights, scale)[:, :, 2])


def test_a_pruning_mask_is_kept_and_the_kept_weights_carry_the_error() -> None:
    from compile.sparsity.mask import apply_two_four, is_two_four

    weights, hessian, scale = _problem(5, groups=2, rows=16, cols=64)
    weights = apply_two_four(weights, axis=2)
    keep = weights != 0
    free = gptq_round(weights, hessian, scale)
    assert not is_two_four(free, axis=2)  # unmasked, the compensation fills pruned zeros (the 2:4 + INT8 fault)
    integers = gptq_round(weights, hessian, scale, keep=keep)
    assert np.all(integers[~keep] == 0) and is_two_four(integers, axis=2)
    nearest = output_error(weights, _nearest(weights, scale) * scale[..., None], hessian)
    masked = output_error(weights, integers * scale[..., None], hessian)
    assert masked < 0.5 * nearest  # still GPTQ: the error goes to the kept weights
    assert np.array_equal(gptq_round(weights, hessian, scale, keep=np.ones_like(keep)), free)
