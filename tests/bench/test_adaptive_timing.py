"""The adaptive stopping rule, on a synthetic timer: a fake clock advanced by seeded call durations."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from compile.bench.adaptive import (
    BUDGET,
    CONVERGED,
    AdaptiveSettings,
    adaptive_stats,
    median_interval,
    time_adaptively,
)


class FakeTimer:
    """``step`` takes the next duration (seconds) off the list; ``clock`` reads the fake time."""

    def __init__(self, durations: Iterator[float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.last = 0.0
        self.calls = 0

    def clock(self) -> float:
        return self.now

    def step(self) -> None:
        self.last = next(self.durations)
        self.now += self.last
        self.calls += 1


def noisy(base_s: float, sigma: float, seed: int = 0) -> Iterator[float]:
    """Lognormal call times around ``base_s`` (``sigma`` 0.002: a quiet machine; 0.6: a busy shared one)."""
    rng = np.random.default_rng(seed)
    while True:
        yield float(base_s * rng.lognormal(0.0, sigma))


def constant(value_s: float) -> Iterator[float]:
    while True:
        yield value_s


def test_median_interval_uses_the_order_statistics_of_the_binomial_table() -> None:
    # n = 100 at 95%: the 40th and 61st smallest values (Conover's table gives the same ranks).
    interval = median_interval(np.arange(1.0, 101.0)[::-1])
    assert (interval.n, interval.median_ms, interval.low_ms, interval.high_ms) == (100, 50.5, 40.0, 61.0)
    assert interval.half_width_pct == pytest.approx(100 * 10.5 / 50.5)


def test_median_interval_covers_the_true_median_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    true_median = 1.0  # lognormal(0, sigma) has median exp(0)
    covered = 0
    for _ in range(2000):
        interval = median_interval(rng.lognormal(0.0, 0.5, size=60))
        covered += interval.low_ms <= true_median <= interval.high_ms
    assert 0.93 <= covered / 2000 <= 0.98


def test_low_noise_converges_as_soon_as_the_minimum_is_reached() -> None:
    timer = FakeTimer(noisy(0.010, 0.002))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=10.0, target_pct=2.0, min_runs=20, warmup=5), timer.clock)
    assert run.stopped == CONVERGED
    assert len(run.samples_ms) == 20 and run.warmup_calls == 5
    assert run.interval.half_width_pct <= 2.0
    assert run.interval.median_ms == pytest.approx(10.0, rel=0.01)
    assert run.seconds == pytest.approx(timer.now) and run.seconds < 0.3


def test_moderate_noise_runs_on_until_the_interval_is_narrow_enough() -> None:
    timer = FakeTimer(noisy(0.010, 0.05))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=60.0, target_pct=2.0, min_runs=20, warmup=0), timer.clock)
    assert run.stopped == CONVERGED
    assert 20 < len(run.samples_ms) < 600
    assert run.interval.half_width_pct <= 2.0
    # Checked at 20 calls, then after each 10% of growth: it stopped at a check, and not at the one before.
    checks = [20]
    while checks[-1] < len(run.samples_ms):
        checks.append(checks[-1] + max(1, int(0.1 * checks[-1])))
    assert checks[-1] == len(run.samples_ms)
    assert median_interval(run.samples_ms[:checks[-2]]).half_width_pct > 2.0


def test_high_noise_stops_at_the_budget_within_one_call() -> None:
    timer = FakeTimer(noisy(0.010, 0.6))
    settings = AdaptiveSettings(budget_s=2.0, target_pct=2.0, min_runs=20, warmup=3)
    run = time_adaptively(timer.step, settings, timer.clock)
    assert run.stopped == BUDGET
    assert run.interval.half_width_pct > 2.0
    assert settings.budget_s <= run.seconds <= settings.budget_s + timer.last
    assert len(run.samples_ms) + run.warmup_calls == timer.calls
    assert 100 < len(run.samples_ms) < 400  # about 2 s of ~12 ms calls


def test_the_budget_never_cuts_below_the_minimum_number_of_runs() -> None:
    timer = FakeTimer(noisy(0.010, 0.6))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=0.05, target_pct=2.0, min_runs=30, warmup=10), timer.clock)
    assert run.stopped == BUDGET
    assert len(run.samples_ms) == 30
    assert run.seconds > 0.05 * 4


def test_a_perfectly_steady_step_still_makes_the_minimum_number_of_runs() -> None:
    timer = FakeTimer(constant(0.004))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=10.0, min_runs=37, warmup=2), timer.clock)
    assert run.stopped == CONVERGED and len(run.samples_ms) == 37
    assert run.interval.half_width_pct == 0.0


def test_warmup_takes_at_most_a_tenth_of_the_budget_but_at_least_one_call() -> None:
    timer = FakeTimer(constant(1.0))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=5.0, min_runs=5, warmup=10), timer.clock)
    assert run.warmup_calls == 1 and len(run.samples_ms) == 5


def test_adaptive_stats_carry_the_interval_and_why_timing_stopped() -> None:
    timer = FakeTimer(noisy(0.010, 0.6, seed=4))
    run = time_adaptively(timer.step, AdaptiveSettings(budget_s=1.0, min_runs=20, warmup=0), timer.clock)
    stats = adaptive_stats(run, batch=8)
    assert stats.stopped == BUDGET and stats.iterations == len(run.samples_ms) and stats.repeats == 3
    assert stats.p50_ms == pytest.approx(float(np.median(run.samples_ms)))
    assert stats.interval_low_ms is not None and stats.interval_high_ms is not None
    assert stats.interval_low_ms <= stats.p50_ms <= stats.interval_high_ms
    assert stats.interval_pct == pytest.approx(run.interval.half_width_pct)
    assert stats.throughput_ips == pytest.approx(8000.0 / stats.p50_ms)
