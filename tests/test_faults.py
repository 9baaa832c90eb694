"""Faults: a full disk while saving, running out of memory, diverging losses."""

from __future__ import annotations

import errno

import pytest
from conftest import QUICK_CLI
import torch

import singan
from singan import files, images
from singan.cli import main
from singan.training import DivergenceError, Trainer, objective



def test_disk_full_keeps_the_last_good_checkpoint(tmp_path, image_file, monkeypatch, capsys):
    real_save = files.save_safetensors
    calls = []

    def save(tensors, metadata=None):
        calls.append(1)
        if len(calls) == 5:  # model file of the save after scale 1 (2 files per save)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, metadata=metadata)

    monkeypatch.setattr(files, "save_safetensors", save)
    run = tmp_path / "run"
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 2
    err = capsys.readouterr().err
    assert "model.safetensors: cannot save (No space left on device)" in err
    assert "last good checkpoint" in err and "--resume" in err and "Traceback" not in err
    model = singan.load(run, allow_incomplete=True)
    assert model.num_trained == 1 and singan.run.load_train_state(run, model).scale == 0
    assert not list(run.rglob("*.tmp")) and not (run / ".lock").exists()
    assert "stopped by an error" in (run / "log.txt").read_text()
    monkeypatch.setattr(files, "save_safetensors", real_save)
    assert main(["train", "--resume", "--out", str(run), "--quiet"]) == 0
    assert singan.load(run).is_complete


def test_disk_full_writing_samples_is_one_message(tiny_run, tmp_path, monkeypatch, capsys):
    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images, "atomic_write", full)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "seed0000.png: No space left on device" in err and "Traceback" not in err


@pytest.mark.parametrize("error,where", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "GPU"),
    (MemoryError(), "main"),
])
def test_out_of_memory_gives_advice(tmp_path, image_file, monkeypatch, capsys, error, where):
    original = Trainer.train_scale

    def train_scale(self, n, *a, **k):
        if n == 1:
            raise error
        return original(self, n, *a, **k)

    monkeypatch.setattr(Trainer, "train_scale", train_scale)
    run = tmp_path / "run"
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"singan train: error: out of {where} memory; use a smaller --max-size")
    assert ("--device cpu" in err) == (where == "GPU")  # main memory: never --device cpu
    assert "--resume" in err and "Traceback" not in err
    assert singan.load(run, allow_incomplete=True).num_trained == 1


def test_out_of_memory_while_sampling(tiny_run, tmp_path, monkeypatch, capsys):
    from singan.cli import sampling

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(sampling, "generate", oom)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "out of GPU memory; ask for a smaller output" in err and "--device cpu" in err


CPU_ALLOCATOR = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 1125899906842624 bytes. Error code 12 (Cannot allocate memory)")
OOM_KINDS = [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "GPU"),
    (MemoryError(), "main"),
    (CPU_ALLOCATOR, "main"),
]


@pytest.mark.parametrize("error,where", OOM_KINDS)
def test_every_kind_of_out_of_memory_in_training(tmp_path, image_file, monkeypatch, capsys,
                                                 error, where):
    """The CPU allocator's RuntimeError is out of memory too; the advice fits the memory."""
    original = Trainer.train_scale

    def train_scale(self, n, *a, **k):
        if n == 1:
            raise error
        return original(self, n, *a, **k)

    monkeypatch.setattr(Trainer, "train_scale", train_scale)
    assert main(["train", str(image_file), "--out", str(tmp_path / "run")] + QUICK_CLI) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"singan train: error: out of {where} memory; use a smaller --max-size" in err
    if where == "GPU":
        assert "or --device cpu" in err
    else:
        assert "close other programs" in err and "--device" not in err


@pytest.mark.parametrize("error,where", OOM_KINDS)
def test_every_kind_of_out_of_memory_in_sampling(tiny_run, tmp_path, monkeypatch, capsys, error,
                                                 where):
    from singan.cli import sampling

    def oom(*a, **k):
        raise error

    monkeypatch.setattr(sampling, "generate", oom)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"singan sample: error: out of {where} memory; ask for a smaller output")
    assert "--batch" in err and ("--device cpu" in err) == (where == "GPU")


def test_other_runtime_errors_keep_their_traceback(tiny_run, tmp_path, monkeypatch):
    """Only out-of-memory RuntimeErrors are the user's: any other is a bug."""
    from singan.cli import sampling

    def bug(*a, **k):
        raise RuntimeError("shape mismatch: a bug")

    monkeypatch.setattr(sampling, "generate", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s")])


def test_memory_kind():
    from singan.cli.failures import GPU, MAIN, memory_kind

    assert [memory_kind(e) for e, _ in OOM_KINDS] == [GPU, MAIN, MAIN]
    assert memory_kind(RuntimeError("CUDA error: out of memory")) == GPU  # raised by cuDNN
    assert memory_kind(RuntimeError("index out of range")) is None
    assert memory_kind(ValueError("DefaultCPUAllocator: can't allocate memory")) is None


# --- divergence ---------------------------------------------------------------------------------


def inject(monkeypatch, value: float, scale: int, attempts: int | None):
    """Make the reconstruction loss `value` during the 2nd iteration of `scale`, in the first
    `attempts` times that scale is trained (None: every time)."""
    real = objective.rec_loss
    left = {"attempts": attempts}
    now = {"on": False, "calls": 0, "second": range(0)}

    def rec_loss(fake, real_img):
        now["calls"] += 1  # one call per generator step
        loss = real(fake, real_img)
        return loss * 0 + value if now["on"] and now["calls"] in now["second"] else loss

    original = Trainer.train_scale

    def train_scale(self, n, *a, **k):
        g = self.config.g_steps
        now.update(calls=0, second=range(g + 1, 2 * g + 1),
                   on=n == scale and (left["attempts"] is None or left["attempts"] > 0))
        if now["on"] and left["attempts"] is not None:
            left["attempts"] -= 1
        return original(self, n, *a, **k)

    monkeypatch.setattr(objective, "rec_loss", rec_loss)
    monkeypatch.setattr(Trainer, "train_scale", train_scale)


@pytest.fixture(scope="module")
def half_rate_at_scale_1(tiny_image, tiny_config):
    """A clean training whose scale 1 runs at half the learning rates."""
    cfg = tiny_config.replace(iters=2)
    clean = Trainer.from_image(tiny_image, cfg, seed=3, log_every=2)
    for n in range(clean.model.num_scales):
        clean.config = cfg.replace(lr_g=cfg.lr_g / 2, lr_d=cfg.lr_d / 2) if n == 1 else cfg
        clean.train_scale(n)
    return cfg, clean.model


@pytest.mark.parametrize("value", [float("nan"), 1e9, 100.0])
def test_diverging_scale_restarts_with_lower_lr(tiny_image, half_rate_at_scale_1, monkeypatch,
                                                value):
    """A non-finite or exploding loss, or a collapse (100: finite, but 10x above the error of
    the iteration before, at the stage's last iteration), restarts the scale from its start at
    half the learning rates: the result equals a clean run that trains that scale at half the
    rates."""
    cfg, clean = half_rate_at_scale_1
    inject(monkeypatch, value, scale=1, attempts=1)
    events = []
    # a collapse needs the lowest error of an earlier log point
    trainer = Trainer.from_image(tiny_image, cfg, seed=3, log_every=1 if value == 100 else 2)
    model = trainer.run(lambda p: p.event and events.append(p))
    assert len(events) == 1 and events[0].scale == 1
    assert "losses diverged" in events[0].event and "learning rates x0.5" in events[0].event
    assert trainer.config == cfg  # the lower rates were for that scale only
    a, b = model.state_dict(), clean.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _log_point(it: int, rec: float, last: bool = False):
    from singan.training import Progress

    return Progress(4, 6, it, 1000, 0.0, {"d_loss": -0.1, "g_loss": 0.3, "rec_loss": rec}, last)


def test_collapse_watch_ignores_spikes_and_slow_errors():
    """Spikes that come back within 150 iterations (as the faithful runs' did), errors below the
    floor and a stage's falling start are no collapse; each log point reaches the callback."""
    from singan.training.restarts import watch_losses

    seen = []
    watched = watch_losses(seen.append, 1e6)
    recs = [1.5, 0.6, 0.05, 0.03, 0.9, 0.8, 0.7, 0.6, 0.6, 0.6, 0.03] + [0.2] * 20 + [0.03]
    for i, rec in enumerate(recs):
        watched(_log_point(25 * (i + 1), rec))
    assert [p.losses["rec_loss"] for p in seen] == recs


def test_collapse_watch_flags_a_lasting_jump_and_a_last_iteration():
    from singan.training.restarts import Diverged, watch_losses

    watched = watch_losses(None, 1e6)
    for i, rec in enumerate([0.5, 0.05, 0.028]):
        watched(_log_point(25 * (i + 1), rec))
    for it in range(575, 725, 25):
        watched(_log_point(it, 2.5))  # 575 -> 700: 125 iterations above, not yet
    with pytest.raises(Diverged, match="rec_loss 2.5 from iteration 575 on, against 0.028 at "
                                       "best: a collapse"):
        watched(_log_point(725, 2.5))
    watched = watch_losses(None, 1e6)
    watched(_log_point(975, 0.03))
    with pytest.raises(Diverged, match="a collapse"):
        watched(_log_point(1000, 0.9, last=True))


def test_restarts_are_bounded(tiny_image, tiny_config, monkeypatch):
    inject(monkeypatch, float("nan"), scale=1, attempts=None)
    events = []
    with pytest.raises(DivergenceError, match="after 3 restart"):
        singan.train(tiny_image, tiny_config.replace(iters=2),
                     callback=lambda p: p.event and events.append(p), log_every=2)
    assert [e.event.split("(restart ")[1] for e in events] == ["1 of 3)", "2 of 3)", "3 of 3)"]


def test_divergence_is_logged_and_a_clear_error(tmp_path, image_file, monkeypatch, capsys):
    inject(monkeypatch, float("nan"), scale=1, attempts=1)
    run = tmp_path / "run"
    assert main(["train", str(image_file), "--out", str(run), "--log-every", "1"] + QUICK_CLI) == 0
    assert "losses diverged (rec_loss nan" in (run / "log.txt").read_text()
    assert all(torch.isfinite(t).all() for t in singan.load(run).state_dict().values())
    monkeypatch.undo()
    inject(monkeypatch, float("nan"), scale=1, attempts=None)
    assert main(["train", str(image_file), "--out", str(run), "--log-every", "1", "--force"]
                + QUICK_CLI) == 2
    err = capsys.readouterr().err
    assert "losses diverged" in err and "Traceback" not in err
    assert singan.load(run, allow_incomplete=True).num_trained == 1
