"""Data safety and robustness of the run layer (issue 15), one class of failure per section:
folders that are not singan's, links, numbers from a run folder, the lock file, messages that
must not quote a file, records left by a killed training. Each named case has a neighbour."""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading

import pytest
import torch
from conftest import QUICK_CLI
from safetensors.torch import save_file

import singan
from singan import budget
from singan.cli import main
from singan.errors import RunError
from singan.run import read_progress
from singan.run.lock import RunLock, read_lock


def run_cli(argv, capsys):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(folder):
    """{relative path: bytes} of every file under a folder (links as their target)."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of a finished tiny run."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst)
    return dst


# --- 1-3: train only into a missing, empty or singan's folder -------------------------------


@pytest.mark.parametrize("files", [
    {"model.safetensors": None},  # a Hugging Face-style model folder
    {"notes.txt": b"mine"},
    {"log.txt": b"my log\n", "stats.jsonl": b"{}\n"},
    {"previews": {"holiday.png": b"not a preview"}},
])
@pytest.mark.parametrize("force", [False, True])
def test_a_folder_that_is_not_a_run_is_never_trained_into(tmp_path, image_file, capsys, files,
                                                          force):
    out = tmp_path / "someone"
    out.mkdir()
    for name, content in files.items():
        if isinstance(content, dict):
            (out / name).mkdir()
            for inner, data in content.items():
                (out / name / inner).write_bytes(data)
        elif content is None:  # safetensors that singan did not write
            save_file({"weight": torch.ones(3)}, str(out / name), metadata={"format": "pt"})
        else:
            (out / name).write_bytes(content)
    before = snapshot(out)
    rc, err = run_cli(["train", image_file, "--out", out, *(["--force"] if force else []),
                       *QUICK_CLI], capsys)
    assert rc == 2
    assert "holds files that are not a SinGAN run" in one_line(err)
    assert snapshot(out) == before  # nothing written, appended or deleted


def test_a_config_json_that_is_not_singans_is_kept_even_with_force(tmp_path, image_file,
                                                                   capsys):
    out = tmp_path / "app"
    out.mkdir()
    (out / "config.json").write_text('{"name": "my web app"}')
    (out / "log.txt").write_text("important\n")
    before = snapshot(out)
    for extra in ([], ["--force"]):
        rc, err = run_cli(["train", image_file, "--out", out, *extra, *QUICK_CLI], capsys)
        assert rc == 2 and "not a SinGAN run (config.json is not singan's)" in one_line(err)
        assert snapshot(out) == before


def test_a_run_is_replaced_only_with_force_and_other_files_stay(run_copy, image_file, capsys):
    (run_copy / "my_notes.txt").write_text("keep me")
    rc, err = run_cli(["train", image_file, "--out", run_copy, *QUICK_CLI], capsys)
    assert rc == 2 and "already holds a run" in one_line(err)
    rc, err = run_cli(["train", image_file, "--out", run_copy, "--force", *QUICK_CLI], capsys)
    assert rc == 0, err
    assert (run_copy / "my_notes.txt").read_text() == "keep me"
    assert singan.load(run_copy).is_complete


def test_leftovers_of_a_killed_start_are_singans(tmp_path, image_file, run_copy, capsys):
    """A start killed before config.json was written leaves singan's own files: trainable."""
    out = tmp_path / "killed"
    out.mkdir()
    for name in ("model.safetensors", "train_state.safetensors"):
        shutil.copy(run_copy / name, out / name)
    (out / ".config.json.abcd1234.tmp").write_text("{")
    (out / "worker.log").write_text("the web app's worker started\n")
    rc, err = run_cli(["train", image_file, "--out", out, *QUICK_CLI], capsys)
    assert rc == 0, err
    assert singan.load(out).is_complete and not list(out.glob("*.tmp"))
    assert (out / "worker.log").read_text().startswith("the web app's worker started")


@pytest.mark.parametrize("command", [["train", "{image}"], ["sample", "{run}"],
                                     ["paint", "{run}", "{image}"]])
def test_an_empty_out_is_refused(tiny_run, image_file, tmp_path, capsys, monkeypatch, command):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    argv = [a.format(image=image_file, run=tiny_run) for a in command]
    rc, err = run_cli([*argv, "--out", "", *(QUICK_CLI if command[0] == "train" else [])], capsys)
    assert rc == 2 and "not an empty path" in one_line(err)
    assert list(here.iterdir()) == []
    with pytest.raises(RunError, match="path is empty"):
        singan.run.train_run("", singan.load_image(image_file), singan.make_config("tiny"))


# --- 4: nothing singan writes follows a symbolic link ----------------------------------------


@pytest.fixture
def partial_run(tmp_path, tiny_image):
    """A run folder whose training stopped after 2 of its scales (resumable)."""
    from singan.training import Trainer

    config = singan.make_config("tiny", max_size=32, min_size=12, base_channels=4,
                                max_channels=4, num_layers=3, iters=1)
    trainer = Trainer.from_image(tiny_image, config, seed=0)
    assert trainer.model.num_scales > 2
    trainer.train_scale(0)
    trainer.train_scale(1)
    folder = tmp_path / "partial"
    singan.save_run(trainer.model, folder, trainer.state(), {"seed": 0})
    return folder


@pytest.mark.parametrize("name", ["log.txt", "stats.jsonl", "progress.json", "previews"])
def test_links_in_a_run_folder_are_refused_not_followed(run_copy, tmp_path, capsys, name):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "diary.txt").write_text("private\n")
    target = victim if name == "previews" else victim / "diary.txt"
    path = run_copy / name
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.symlink_to(target)
    before = snapshot(victim)
    rc, err = run_cli(["train", "--resume", "--out", run_copy, "--quiet"], capsys)
    assert rc == 2 and "is a symbolic link" in one_line(err) and name in err
    assert snapshot(victim) == before


def test_appends_never_follow_a_link(tmp_path):
    from singan.files import open_append

    (tmp_path / "real.txt").write_text("kept\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(OSError):
        open_append(tmp_path / "link.txt")
    from singan.run.launch import Worker
    with pytest.raises(OSError):
        Worker(["--version"], tmp_path / "link.txt")
    assert (tmp_path / "real.txt").read_text() == "kept\n"


# --- 5: values of a run folder are consistent with each other --------------------------------


@pytest.mark.parametrize("factor", [0.003, 1e-300, 0.999])
def test_a_scale_factor_that_does_not_match_the_sizes_is_refused(run_copy, tmp_path, capsys,
                                                                 factor):
    info = json.loads((run_copy / "config.json").read_text())
    info["scale_factor"] = factor
    (run_copy / "config.json").write_text(json.dumps(info))
    rc, err = run_cli(["sample", run_copy, "--num", "1", "--out", tmp_path / "s"], capsys)
    assert rc == 2 and "does not match the ratios of 'sizes'" in one_line(err)
    assert not (tmp_path / "s").exists()


def test_sizes_that_do_not_follow_the_factor_are_refused(run_copy):
    info = json.loads((run_copy / "config.json").read_text())
    info["sizes"][0] = [info["sizes"][0][0], info["sizes"][0][1] - 3]
    (run_copy / "config.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="does not match the ratios"):
        singan.load(run_copy)


def test_every_pyramid_singan_makes_is_consistent():
    from singan.pyramid import geometry
    from singan.run.format import consistent_sizes

    for h, w in [(25, 25), (30, 300), (188, 250), (999, 137), (4000, 3000)]:
        for kw in ({}, {"max_size": 1000}, {"min_size": 18, "scale_factor_init": 2 ** (-1 / 3),
                                            "exact_factor": True, "max_size": 4096}):
            geo = geometry(h, w, **kw)
            assert consistent_sizes([list(s) for s in geo.sizes], geo.scale_factor)


# --- 6 and 10: the lock is read like any other file -------------------------------------------


def test_a_fifo_lock_does_not_hang(tmp_path, image_file, capsys):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / ".lock")
    done = []
    t = threading.Thread(target=lambda: done.append(run_cli(
        ["train", image_file, "--out", run, *QUICK_CLI], capsys)), daemon=True)
    t.start()
    t.join(30)
    assert done, "singan train hung on a FIFO named .lock"
    rc, err = done[0]
    assert rc == 2 and "lock file that cannot be read" in one_line(err)


@pytest.mark.parametrize("content", ["/dev/zero", {"pid": 2**70, "host": "h"},
                                     {"pid": -4, "host": "h"}, {"pid": 1, "host": "x" * 5000}])
def test_unusable_locks_are_refused_clearly(tmp_path, image_file, capsys, content):
    run = tmp_path / "run"
    run.mkdir()
    if content == "/dev/zero":
        (run / ".lock").symlink_to("/dev/zero")
    else:
        (run / ".lock").write_text(json.dumps(content))
    assert read_lock(run) == {}
    rc, err = run_cli(["train", image_file, "--out", run, *QUICK_CLI], capsys)
    expected = "is a symbolic link" if content == "/dev/zero" else "lock file that cannot be read"
    assert rc == 2 and expected in one_line(err)


def test_progress_fields_of_the_wrong_type_or_range_are_dropped(tmp_path):
    (tmp_path / "progress.json").write_text(json.dumps(
        {"status": "running", "pid": 2**70, "percent": "lots", "eta": 1e308, "scale": True,
         "num_scales": 4, "elapsed": -3}))
    p = read_progress(tmp_path)
    assert p.status == "running" and p.num_scales == 4
    assert p.pid is None and p.percent is None and p.eta is None and p.scale is None
    assert p.elapsed is None
    (tmp_path / "progress.json").write_text("[1, 2]")
    assert read_progress(tmp_path) == singan.run.ProgressInfo()


# --- 8 and 15: messages never quote a file's content ----------------------------------------


def test_a_header_message_does_not_echo_the_first_bytes(run_copy, capsys):
    secret = b"hunter22"  # 8 bytes read as the header length
    (run_copy / "model.safetensors").write_bytes(secret + b"\0" * 64)
    rc, err = run_cli(["sample", run_copy, "--out", run_copy / "s"], capsys)
    line = one_line(err)
    assert rc == 2 and "header length" in line
    assert str(struct.unpack("<Q", secret)[0]) not in line


def test_a_huge_number_in_config_json_is_not_echoed(run_copy, capsys, tmp_path):
    text = (run_copy / "config.json").read_text()
    (run_copy / "config.json").write_text(text.replace('"format_version": 1',
                                                       '"format_version": ' + "9" * 4000))
    rc, err = run_cli(["sample", run_copy, "--out", tmp_path / "s"], capsys)
    line = one_line(err)
    assert rc == 2 and "format_version" in line and len(line) < 400


def test_sampling_a_run_that_is_training_says_so(partial_run, tmp_path, capsys):
    with RunLock(partial_run):  # this process holds the lock: the run is training
        rc, err = run_cli(["sample", partial_run, "--out", tmp_path / "s"], capsys)
        assert rc == 2 and "still training" in one_line(err)
    rc, err = run_cli(["sample", partial_run, "--out", tmp_path / "s"], capsys)
    assert rc == 2 and "training stopped after" in one_line(err)


def test_rng_state_messages_say_what_is_wrong(partial_run, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = partial_run / "train_state.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    for rng, expected in ((torch.zeros(5056, dtype=torch.uint8), "is corrupt"),
                          (torch.zeros(16, dtype=torch.uint8), "saved on a CUDA device")):
        save_file({**tensors, "rng_state": rng}, str(path), metadata=meta)
        rc, err = run_cli(["train", "--resume", "--out", partial_run, "--quiet"], capsys)
        line = one_line(err)
        assert rc == 2 and expected in line and "device type it was trained on" not in line


# --- 13, 14: promises kept ----------------------------------------------------------------


def test_sr_with_max_size_accepts_its_own_model(tmp_path, capsys):
    image = tmp_path / "small.png"
    singan.default_image(74, 100).save(image)
    flags = ["--preset", "tiny", "--min-size", "12", "--base-channels", "4", "--max-channels",
             "4", "--num-layers", "3", "--iters", "1", "--device", "cpu", "--quiet"]
    for max_size in ("31", "47"):
        run = tmp_path / f"run{max_size}"
        rc, err = run_cli(["sr", image, "--factor", "2", "--out", tmp_path / f"big{max_size}.png",
                           "--run", run, "--max-size", max_size, *flags], capsys)
        assert rc == 0, err
        rc, err = run_cli(["sr", image, "--factor", "2", "--out", tmp_path / "again.png",
                           "--force", "--run", run, "--quiet"], capsys)
        assert rc == 0, err  # reused: trained on this image, shrunk


def test_resuming_a_complete_run_fixes_its_progress_record(run_copy, capsys):
    info = json.loads((run_copy / "progress.json").read_text())
    elapsed = info["elapsed"]
    info["status"] = "running"  # killed after its last checkpoint
    (run_copy / "progress.json").write_text(json.dumps(info))
    rc, err = run_cli(["train", "--resume", "--out", run_copy], capsys)
    assert rc == 0 and "already complete" in err
    p = read_progress(run_copy)
    assert p.status == "done" and p.scales_done == p.num_scales and p.elapsed == elapsed


def test_a_full_disk_while_taking_the_lock_names_the_lock_and_leaves_nothing(
        tmp_path, image_file, capsys, monkeypatch):
    real_fdopen = os.fdopen

    def full(fd, *a, **k):
        f = real_fdopen(fd, *a, **k)
        if "w" in (a[0] if a else k.get("mode", "r")):
            def write(_):
                raise OSError(28, "No space left on device")
            f.write = write
        return f

    monkeypatch.setattr(os, "fdopen", full)
    run = tmp_path / "run"
    rc, err = run_cli(["train", image_file, "--out", run, *QUICK_CLI], capsys)
    monkeypatch.undo()
    line = one_line(err)
    assert rc == 2 and ".lock: cannot take the lock (No space left on device)" in line
    assert not run.exists()  # no temporary lock file, and no folder it created


# --- Also: the memory of decoding the training image ----------------------------------------


def test_decoding_memory_is_checked_before_decoding(tmp_path, image_file, capsys, monkeypatch):
    monkeypatch.setattr(budget, "available_memory", lambda device: 10_000)
    rc, err = run_cli(["train", image_file, "--out", tmp_path / "r", *QUICK_CLI], capsys)
    assert rc == 2 and "reading this 32x24 image needs about" in one_line(err)
    assert not (tmp_path / "r").exists()


def test_animation_memory_is_checked(tiny_run, tmp_path, capsys, monkeypatch):
    from singan.budget import animation_memory

    model = singan.load(tiny_run)
    assert animation_memory(model.config, model.sizes, 1000) > \
        10 * animation_memory(model.config, model.sizes, 10)
    monkeypatch.setattr(budget, "available_memory", lambda device: 2**20)
    anim = tmp_path / "anim"
    shutil.copytree(tiny_run, anim)
    info = json.loads((anim / "config.json").read_text())
    info["config"]["mode"] = "animation"
    (anim / "config.json").write_text(json.dumps(info))
    rc, err = run_cli(["animate", anim, "--out", tmp_path / "a.gif", "--frames", "10000"],
                      capsys)
    assert rc == 2 and "need about" in one_line(err) and "fewer --frames" in err
    assert not (tmp_path / "a.gif").exists()



def test_a_training_that_fails_before_saving_leaves_no_folder(tmp_path, tiny_image,
                                                              monkeypatch):
    from singan.training import Trainer

    config = singan.make_config("tiny", max_size=32, min_size=16, iters=1)
    with pytest.raises(singan.ConfigError, match="seed must be"):
        singan.run.train_run(tmp_path / "a", tiny_image, config, seed=2**64)
    assert not (tmp_path / "a").exists()

    def broken(*a, **k):
        raise RuntimeError("a bug while setting up")

    monkeypatch.setattr(Trainer, "from_image", broken)
    with pytest.raises(RuntimeError):
        singan.run.train_run(tmp_path / "b", tiny_image, config)
    assert not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir()  # a folder the user made stays
    with pytest.raises(RuntimeError):
        singan.run.train_run(tmp_path / "c", tiny_image, config)
    assert (tmp_path / "c").is_dir()
