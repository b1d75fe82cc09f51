"""torchvision names get their pretrained weights through torch.hub's download into the hub cache, from a
server on 127.0.0.1 here (never the internet); where they cannot be had, the run says so loudly and
records ``weights: random``."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compile.models import registry
from compile.models.registry import OFFLINE_ENV, load_torch_model, resolve_model

MODEL = "squeezenet1_1"  # the smallest torchvision classifier with pretrained weights (5 MB)


@dataclass
class Server:
    root: Path
    port: int
    requests: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "served"
    root.mkdir()
    state = Server(root, 0)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            state.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache and resolve memo, network allowed (conftest sets offline for all others)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(OFFLINE_ENV, "0")
    monkeypatch.setattr(registry, "_DOWNLOAD_FAILURES", {})
    return tmp_path / "torch" / "hub" / "checkpoints"


def _checkpoint(folder: Path, seed: int = 123, name_hash: str | None = None) -> tuple[Path, dict[str, object]]:
    """A squeezenet1_1 state dict (seeded, unlike the seed-0 random init) named the torchvision way,
    ``<model>-<first 8 hex of its SHA-256>.pth``, which torch.hub checks after the download."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    state = torchvision.models.get_model(MODEL, weights=None).state_dict()
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{MODEL}-{(name_hash or digest)[:8]}.pth"
    tmp.rename(path)
    return path, state


def _point_weights_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    import torchvision

    monkeypatch.setattr(torchvision.models.get_model_weights(MODEL).DEFAULT.value, "url", url)


def test_download_into_the_hub_cache_then_load_without_network(server: Server, hub: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    served, state = _checkpoint(server.root)
    _point_weights_at(monkeypatch, server.url(served.name))
    artifact = resolve_model(MODEL)
    assert server.requests == [f"/{served.name}"]
    cached = hub / served.name
    assert cached.read_bytes() == served.read_bytes()
    assert artifact.spec["weights"] == f"file:{registry.hash_file(cached)}"
    loaded = load_torch_model(artifact)
    assert loaded.info.weights.startswith("pretrained") and not loaded.info.warnings
    for key, value in loaded.module.state_dict().items():
        assert torch.equal(value, state[key]), key  # type: ignore[arg-type]
    # The weights are in the hub cache: a fresh resolve (no memo) needs no server.
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(hub.parent / "memo2"))
    _point_weights_at(monkeypatch, f"http://127.0.0.1:{_free_port()}/{served.name}")
    assert resolve_model(MODEL).spec == artifact.spec
    assert len(server.requests) == 1


def test_a_file_that_fails_torch_hubs_hash_check_is_not_used(server: Server, hub: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    served, _ = _checkpoint(server.root, name_hash="0" * 8)  # named for another file's hash
    _point_weights_at(monkeypatch, server.url(served.name))
    artifact = resolve_model(MODEL)
    assert server.requests == [f"/{served.name}"]
    assert artifact.spec["weights"].startswith("random-init")
    assert not hub.exists() or list(hub.iterdir()) == []  # no partial or unchecked file left behind
    loaded = load_torch_model(artifact)
    assert loaded.info.weights == "random"
    assert "RANDOMLY INITIALISED" in loaded.info.warnings[0] and "downloading" in loaded.info.warnings[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_gives_the_random_init_warning(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_weights_at(monkeypatch, f"http://127.0.0.1:{_free_port()}/{MODEL}-b8a52dc0.pth")
    artifact = resolve_model(MODEL)
    assert artifact.spec["weights"].startswith("random-init")
    warning = load_torch_model(artifact).info.warnings[0]
    assert "refused" in warning.lower() and "RANDOMLY INITIALISED" in warning


def test_a_server_that_never_answers_times_out(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "DOWNLOAD_TIMEOUT_S", 0.5)
    with socket.socket() as silent:  # accepts the connection (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        _point_weights_at(monkeypatch, f"http://127.0.0.1:{silent.getsockname()[1]}/{MODEL}-b8a52dc0.pth")
        start = time.perf_counter()
        artifact = resolve_model(MODEL)
        elapsed = time.perf_counter() - start
    assert artifact.spec["weights"].startswith("random-init")
    assert elapsed < 5, elapsed
    assert socket.getdefaulttimeout() is None  # restored after the call
    assert "timed out" in load_torch_model(artifact).info.warnings[0]


def test_a_failed_download_is_tried_again_on_the_next_run(server: Server, hub: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    served, _ = _checkpoint(server.root)
    _point_weights_at(monkeypatch, f"http://127.0.0.1:{_free_port()}/{served.name}")
    assert resolve_model(MODEL).spec["weights"].startswith("random-init")
    _point_weights_at(monkeypatch, server.url(served.name))
    assert resolve_model(MODEL).spec["weights"].startswith("file:")


def test_offline_flag_skips_the_download_and_the_report_says_random(server: Server, hub: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from compile.cli.main import main

    served, _ = _checkpoint(server.root)
    _point_weights_at(monkeypatch, server.url(served.name))
    main(["export", MODEL, "--offline", "--profile", "cpu", "--out", str(tmp_path / "run"), "--quiet"])
    assert server.requests == []
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["weights"] == "random"
    assert any("RANDOMLY INITIALISED" in w and "offline" in w for w in report["warnings"])


def test_offline_environment_variable(server: Server, hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served, _ = _checkpoint(server.root)
    _point_weights_at(monkeypatch, server.url(served.name))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    assert resolve_model(MODEL).spec["weights"].startswith("random-init")
    assert server.requests == []
