"""``--precision best``: the chooser on candidates with known accuracy and latency, and the rejections."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from compile.drivers.best import FAILED, PASSED, REJECTED, Candidate, choose, explain, rejection_before_build


def cand(precision: str, status: str, latency: float | None, agreement: float = 0.999) -> Candidate:
    return Candidate(precision, status, latency_ms=latency, accuracy={"top1_agreement": agreement})


def test_fastest_passing_candidate_wins() -> None:
    candidates = [cand("fp32", PASSED, 20.0, 1.0), cand("mixed", PASSED, 9.0), cand("int8", FAILED, 6.0, 0.97)]
    chosen = choose(candidates)
    assert chosen is not None and chosen.precision == "mixed"
    explain(candidates, chosen)
    assert candidates[0].reason.startswith("passes, but slower: 20.000 ms vs mixed 9.000 ms")


def test_a_faster_failing_candidate_never_wins() -> None:
    chosen = choose([cand("fp32", PASSED, 20.0), cand("int8", FAILED, 1.0), cand("fp16", REJECTED, None)])
    assert chosen is not None and chosen.precision == "fp32"


def test_all_failing_gives_no_choice() -> None:
    assert choose([cand("fp32", FAILED, 20.0), cand("int8", FAILED, 5.0), cand("fp16", REJECTED, None)]) is None
    assert choose([]) is None


def test_passing_without_latency_is_not_chosen() -> None:
    chosen = choose([cand("int8", PASSED, None), cand("fp32", PASSED, 30.0)])
    assert chosen is not None and chosen.precision == "fp32"


def test_ties_go_to_accuracy_then_higher_precision() -> None:
    tie = [cand("int8", PASSED, 5.0, 0.996), cand("mixed", PASSED, 5.0, 0.999)]
    assert choose(tie).precision == "mixed"  # type: ignore[union-attr]
    same = [cand("int8", PASSED, 5.0, 0.999), cand("mixed", PASSED, 5.0, 0.999), cand("fp32", PASSED, 5.0, 0.999)]
    chosen = choose(same)
    assert chosen is not None and chosen.precision == "fp32"
    explain(same, chosen)
    assert "the tie went to fp32" in same[0].reason


def profile(device: str = "cpu", allowed: tuple[str, ...] = ("fp32", "fp16", "int8", "mixed")) -> SimpleNamespace:
    return SimpleNamespace(name="p", device=device, precision=SimpleNamespace(allowed=list(allowed)))


def test_rejections_before_building() -> None:
    assert "slower than fp32" in (rejection_before_build("fp16", profile("cpu"), {}) or "")
    assert rejection_before_build("fp16", profile("gpu"), {}) is None
    assert "does not allow mixed" in (rejection_before_build("mixed", profile(allowed=("fp32", "int8")), {}) or "")
    int8_passed = {"int8": cand("int8", PASSED, 5.0)}
    assert "not needed" in (rejection_before_build("mixed", profile(), int8_passed) or "")
    assert rejection_before_build("mixed", profile(), {"int8": cand("int8", FAILED, 5.0)}) is None


def test_candidate_record_is_compact() -> None:
    c = Candidate("mixed", PASSED, latency_ms=7.123456, accuracy={"top1_agreement": 0.9975}, float_layers=["a", "b"],
                  search_cost={"evaluations": 6}, runtime=object())
    record = c.to_dict()
    assert record["latency_ms"] == pytest.approx(7.1235)
    assert record["float_layers"] == ["a", "b"] and "runtime" not in record and "reason" not in record


def test_precision_best_reads_its_profile_once(tiny_onnx, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One `run --precision best` parses its profile file once, however many candidates it compiles."""
    import re

    from compile.cli.main import main
    from compile.profiles import Profile, profiles_dir

    text = (profiles_dir() / "cpu.toml").read_text()
    text = re.sub(r'^name = "cpu"', 'name = "once"', text, count=1, flags=re.M)
    for key, value in (("iterations", 3), ("warmup", 1), ("repeats", 1), ("samples", 8), ("size", 8)):
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
    profile = tmp_path / "once.toml"
    profile.write_text(text)
    parsed: list[str] = []
    real = Profile.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(data.get("name") if isinstance(data, dict) else "?")
        return real(cls, data, *args, **kwargs)

    monkeypatch.setattr(Profile, "model_validate", classmethod(counting))
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    main(["run", str(tiny_onnx), "--profile", str(profile), "--precision", "best", "--out", str(tmp_path / "best"),
          "-q", "--bench-budget", "1", "--gate", "min_top1_agreement=0"])  # passes: no SystemExit
    assert (tmp_path / "best" / "candidates" / "int8" / "report.json").is_file()
    assert parsed.count("once") == 1, parsed
