"""Shared fixtures: tiny models built in memory, a scratch run directory, and GPU/TensorRT skips."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Tests never reach the internet: torchvision names compile with their seeded random initialisation unless
# a test serves the weights itself on 127.0.0.1 (tests/models/test_pretrained_weights.py).
os.environ.setdefault("COMPILE_OFFLINE", "1")
SAMPLE_IMAGES = REPO / "compile" / "assets" / "imagenet-sample"


def _has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_gpu = pytest.mark.skip(reason="needs an NVIDIA GPU")
    no_trt = pytest.mark.skip(reason="needs the tensorrt package and an NVIDIA GPU")
    has_trt = importlib.util.find_spec("tensorrt") is not None
    for item in items:
        if "gpu" in item.keywords and not _has_gpu():
            item.add_marker(no_gpu)
        if "tensorrt" in item.keywords and not (has_trt and _has_gpu()):
            item.add_marker(no_trt)


@pytest.fixture
def sample_images() -> Path:
    return SAMPLE_IMAGES


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """A 2-layer Conv/ReLU/Gemm classifier with a dynamic batch, built directly with onnx.helper."""
    from tests.helpers import make_tiny_classifier

    path = tmp_path / "tiny.onnx"
    make_tiny_classifier(path)
    return path
