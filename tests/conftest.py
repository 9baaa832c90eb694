"""Shared fixtures: device selection, a tiny configuration, a tiny trained model and run."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import singan
from singan import images
from singan.training import Throughput

# The throughput of time estimates in tests that show them (no measured warm-up).
FIXED_RATE = Throughput(fixed=0.01, per_work=1e-8)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="device for the tests (cpu, cuda)")
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_configure(config):
    # Under pytest-xdist (pyproject's addopts) the workers share the cores: one torch thread
    # each, as two trainings side by side would have (more threads than cores crawl).
    if hasattr(config, "workerinput"):
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow; run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return dev


@pytest.fixture(scope="session")
def tiny_config() -> singan.SinGANConfig:
    """A few scales of 8 channels and 4 iterations: trains in a second or two."""
    return singan.make_config("tiny", max_size=32, min_size=16, base_channels=8, max_channels=8,
                              iters=4)


@pytest.fixture(scope="session")
def tiny_image() -> torch.Tensor:
    """A (1, 3, 24, 32) crop of the embedded landscape."""
    return images.image_to_tensor(singan.default_image(96, 128).resize((32, 24)))


@pytest.fixture(scope="session")
def tiny_model(tiny_image, tiny_config, device) -> singan.SinGAN:
    return singan.train(tiny_image, tiny_config, device=device, seed=0)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_image) -> Path:
    """A run folder trained through the CLI (tiny settings)."""
    from singan.cli import main

    path = tmp_path_factory.mktemp("runs") / "tiny"
    img = tmp_path_factory.mktemp("img") / "img.png"
    images.save_image(tiny_image[0], img)
    rc = main(["train", str(img), "--out", str(path), "--preset", "tiny", "--max-size", "32",
               "--min-size", "16", "--base-channels", "8", "--max-channels", "8", "--iters", "4",
               "--quiet", "--device", "cpu"])
    assert rc == 0
    return path


# CLI flags for a tiny training (a second or two on CPU).
TINY_CLI = ["--preset", "tiny", "--max-size", "32", "--min-size", "16", "--base-channels", "8",
            "--max-channels", "8", "--iters", "3", "--quiet", "--device", "cpu"]
# Even smaller, for tests where what is learnt does not matter (locks, signals, faults).
QUICK_CLI = TINY_CLI + ["--base-channels", "4", "--max-channels", "4", "--num-layers", "3",
                        "--iters", "2"]


@pytest.fixture
def image_file(tmp_path, tiny_image) -> Path:
    """The tiny image saved as a PNG file."""
    path = tmp_path / "img.png"
    images.save_image(tiny_image[0], path)
    return path


def unhang(fifo: Path, after: float = 20.0) -> None:
    """If a regression opens `fifo` for reading (which blocks), open it for writing `after`
    seconds later so that the test fails instead of hanging."""
    import os
    import threading

    def release():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader: nothing hangs
            pass

    timer = threading.Timer(after, release)
    timer.daemon = True
    timer.start()


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (the ../shared/data folder is absent)")
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """The generated corpus of awkward input files (tests/corpus/make_corpus.py): {name: path}."""
    return corpus_module("make_corpus").make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def corpus_root(corpus) -> Path:
    """The folder holding the corpus (image/, mask/, run/, state/, bases/)."""
    return corpus["empty.png"].parents[1]


def corpus_module(name: str):
    """tests/corpus/NAME.py as a module (tests/ is not a package)."""
    return _script_module(f"singan_tests_{name}", Path(__file__).parent / "corpus" / f"{name}.py")


def bench_module(name: str):
    """bench/NAME.py of the repository as a module."""
    return _script_module(f"singan_bench_{name}",
                          Path(__file__).resolve().parents[1] / "bench" / f"{name}.py")


def _script_module(key: str, path: Path):
    import importlib.util
    import sys

    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# Settings for a model that trains in seconds through the web app (Train tab field values).
UI_TINY = {"preset": "tiny", "max_size": 32, "min_size": 16, "iters": 3, "iters_finest": 0,
           "base_channels": 8, "max_channels": 8}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    """The web app launched in this process on 127.0.0.1 (a free port), over an empty runs folder.

    Yields url, runs (the folder), workers (singan.ui.runs.Workers) and app. Training workers
    use one thread each so that they do not fight the tests for the CPU.
    """
    pytest.importorskip("gradio", reason="the web app needs the `ui` extra (gradio)")
    from singan.ui import build_app, launch
    from singan.ui.runs import Workers

    runs = tmp_path_factory.mktemp("ui-runs")
    workers = Workers(runs, "cpu", threads=1)
    from singan.training import estimate

    with pytest.MonkeyPatch.context() as mp:  # the preset list's times: no warm-up here
        mp.setattr(estimate, "measure_throughput", lambda config, device="cpu": FIXED_RATE)
        app = build_app(runs, "cpu", workers=workers)
    port = _free_port()
    launch(app, runs, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", runs=runs, workers=workers,
                              app=app)
    finally:
        workers.close()
        app.close()


@pytest.fixture
def fixed_throughput(monkeypatch):
    """Time estimates without the measured warm-up (a fixed throughput): fast and the same on
    every machine, for tests of what is shown rather than of the measurement."""
    from singan.training import estimate

    monkeypatch.setattr(estimate, "measure_throughput", lambda config, device="cpu": FIXED_RATE)
    return FIXED_RATE

