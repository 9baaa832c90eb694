"""The CLI in-process: training, sampling, resuming and every error path."""

import json
import shutil

import pytest
from PIL import Image

import singan
from singan import images
from singan.cli import main

TINY = ["--preset", "tiny", "--max-size", "32", "--min-size", "16", "--base-channels", "8",
        "--max-channels", "8", "--iters", "3", "--quiet", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _no_warmup(fixed_throughput):
    """Dry runs and `train --help` estimate times from a fixed throughput here (the measured
    warm-up is tested in test_estimate.py)."""


@pytest.fixture
def img(tmp_path, tiny_image):
    path = tmp_path / "img.png"
    images.save_image(tiny_image[0], path)
    return path


def test_train_and_sample(tiny_run, tmp_path):
    files = {f.name for f in tiny_run.iterdir()}
    assert {"config.json", "model.safetensors", "train_state.safetensors", "stats.jsonl",
            "log.txt", "previews"} <= files
    stats = [json.loads(line) for line in (tiny_run / "stats.jsonl").read_text().splitlines()]
    assert stats and {"scale", "iter", "d_loss", "g_loss", "rec_loss", "gp"} <= stats[0].keys()
    progress = json.loads((tiny_run / "progress.json").read_text())
    assert progress["status"] == "done" and progress["percent"] == 100.0
    assert progress["scales_done"] == progress["num_scales"]
    out = tmp_path / "samples"
    assert main(["sample", str(tiny_run), "--num", "3", "--out", str(out), "--quiet"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    size = Image.open(pngs[0]).size
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "w"),
                 "--scale-w", "2", "--quiet"]) == 0
    assert Image.open(next((tmp_path / "w").glob("*.png"))).size == (2 * size[0], size[1])


def test_sample_same_seed_same_file(tiny_run, tmp_path):
    main(["sample", str(tiny_run), "--num", "3", "--seed", "5", "--out", str(tmp_path / "a"),
          "--quiet"])
    main(["sample", str(tiny_run), "--num", "1", "--seed", "6", "--out", str(tmp_path / "b"),
          "--quiet"])
    assert (tmp_path / "a" / "seed0006.png").read_bytes() == \
        (tmp_path / "b" / "seed0006.png").read_bytes()


def test_existing_run_needs_force_or_resume(tiny_run, tmp_path, img, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = (run / "model.safetensors").read_bytes()
    assert main(["train", str(img), "--out", str(run)] + TINY) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "model.safetensors").read_bytes() == before
    assert main(["train", str(img), "--out", str(run), "--force"] + TINY) == 0
    assert main(["train", "--resume", "--out", str(run), "--quiet"]) == 0  # complete: no-op


def test_resume_after_interrupt(tiny_run, tmp_path, img, monkeypatch):
    from singan.training import Trainer

    original = Trainer.train_scale

    def flaky(self, n, *a, **k):
        if n == 2:
            raise KeyboardInterrupt
        return original(self, n, *a, **k)

    monkeypatch.setattr(Trainer, "train_scale", flaky)
    run = tmp_path / "run"
    assert main(["train", str(img), "--out", str(run), "--seed", "1"] + TINY) == 130
    monkeypatch.setattr(Trainer, "train_scale", original)
    with pytest.raises(Exception, match="stopped after 2"):
        singan.load(run)
    assert main(["train", "--resume", "--out", str(run), "--quiet"]) == 0
    resumed = singan.load(run)
    assert main(["train", str(img), "--out", str(tmp_path / "ref"), "--seed", "1"] + TINY) == 0
    ref = singan.load(tmp_path / "ref")
    a, b = resumed.state_dict(), ref.state_dict()
    assert all((a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("argv,message", [
    (["train", "missing.png", "--out", "{tmp}/r"], "no such file"),
    (["train", "{tmp}/junk.png", "--out", "{tmp}/r"], "not an image"),
    (["train", "{tmp}/cut.png", "--out", "{tmp}/r"], "corrupt or truncated"),
    (["train", "{tmp}/small.png", "--out", "{tmp}/r"], "too small"),
    (["train", "{tmp}/ok.png", "--out", "{tmp}/r", "--iters", "0"], "iters"),
    (["train", "{tmp}/ok.png", "--out", "{tmp}/r", "--max-size", "10"], "max_size"),
    (["train", "{tmp}/ok.png", "--out", "{tmp}/r", "--device", "tpu"], "device"),
    (["train", "--resume", "--out", "{tmp}/nothing"], "no such run"),
    (["sample", "{tmp}", "--num", "2", "--out", "{tmp}/s"], "not a SinGAN run"),
    (["sample", "{tmp}/ok.png", "--num", "2", "--out", "{tmp}/s"], "not a folder"),
    (["sample", "{run}", "--num", "0", "--out", "{tmp}/s"], "--num"),
    (["sample", "{run}", "--num", "1", "--start-scale", "99", "--out", "{tmp}/s"],
     "--start-scale"),
    (["sample", "{run}", "--num", "1", "--scale-w", "-1", "--out", "{tmp}/s"], "--scale"),
])
def test_errors_are_one_clear_line(tmp_path, tiny_run, capsys, argv, message):
    (tmp_path / "junk.png").write_bytes(b"\x00" * 100)
    Image.new("RGB", (64, 48), "gray").save(tmp_path / "ok.png")
    Image.effect_noise((64, 48), 50).save(tmp_path / "noisy.png")
    data = (tmp_path / "noisy.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (12, 12), "gray").save(tmp_path / "small.png")
    argv = [a.format(tmp=tmp_path, run=tiny_run) for a in argv]
    rc = main(argv + (["--quiet"] if argv[0] in ("train", "sample") else []))
    err = capsys.readouterr().err
    assert rc != 0
    assert message in err
    assert "Traceback" not in err


def test_corrupt_run_is_a_clear_error(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "model.safetensors").write_bytes(b"garbage")
    assert main(["sample", str(run), "--num", "1", "--out", str(tmp_path / "s")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_sample_does_not_overwrite(tiny_run, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(out), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for cmd in ("train", "sample"):
        assert main([cmd, "--help"]) == 0
        assert "examples:" in capsys.readouterr().out


def test_train_help_describes_every_setting_and_preset(capsys):
    """Every setting has its own line of help, the same text as the config's documentation
    (one source: the field's `_setting`), and every preset its purpose and time here."""
    from singan.config import PRESET_PURPOSES, SINGAN_FIELDS, SinGANConfig, field_help

    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "see SinGANConfig" not in text
    for name in SINGAN_FIELDS:
        if name != "mode":
            flag = "--" + name.replace("_", "-")
            assert f"{flag} " in text and field_help(name) in text, name
        assert field_help(name) in " ".join(SinGANConfig.__doc__.split())
    for name, purpose in PRESET_PURPOSES.items():
        assert f"{name} {purpose}; about " in text
    assert "warm-up measured just now" in text


def test_train_help_does_not_measure_for_other_commands(monkeypatch):
    """The warm-up runs for `train --help` only, never when a command is parsed."""
    from singan.training import estimate

    def boom(*a, **k):
        raise AssertionError("measured")

    monkeypatch.setattr(estimate, "measure_throughput", boom)
    from singan.cli import build_parser

    build_parser().parse_args(["train", "--preset", "tiny"])


# --- the defaults people expect (issue 19) -----------------------------------------------------


def test_train_out_defaults_to_runs_and_the_image_stem(tmp_path, monkeypatch, tiny_image,
                                                       capsys):
    monkeypatch.chdir(tmp_path)
    images.save_image(tiny_image[0], tmp_path / "stone.png")
    args = [a for a in TINY if a != "--quiet"]
    assert main(["train", "stone.png", *args]) == 0
    err = capsys.readouterr().err
    assert "run folder runs/stone" in err and "singan sample runs/stone`" in err
    assert (tmp_path / "runs" / "stone" / "config.json").is_file()
    before = (tmp_path / "runs" / "stone" / "model.safetensors").read_bytes()
    assert main(["train", "stone.png", *TINY]) == 2  # the usual refusal to overwrite
    assert "runs/stone already holds a run" in capsys.readouterr().err
    assert (tmp_path / "runs" / "stone" / "model.safetensors").read_bytes() == before
    assert main(["train", "stone.png", "--resume", "--quiet"]) == 0  # the same folder
    assert "ignored" not in capsys.readouterr().err
    assert main(["train", *TINY]) == 0  # the embedded image
    assert (tmp_path / "runs" / "default" / "config.json").is_file()


def test_scales_are_numbered_from_0_to_the_finest(tmp_path, img, capsys):
    """One numbering: `scale k/F`, 0 = coarsest, F = N - 1, in the bar, log.txt and resume."""
    from singan.cli.progress import TrainingBar, resume_message
    from singan.run import RunStart, load
    from singan.training import Progress

    run = tmp_path / "r"
    args = [a for a in TINY if a != "--quiet"]
    assert main(["train", str(img), "--out", str(run), *args]) == 0
    err = capsys.readouterr().err
    model = load(run)
    n = model.num_scales
    assert f"scale {n - 1}/{n - 1} it" in err and f"/{n} it" not in err
    bar = TrainingBar(RunStart(run, model, 0, False), quiet=False)
    try:
        bar.update(Progress(scale=0, num_scales=n, iteration=1, iters=3, elapsed=0.0,
                            percent=1.0))
        assert bar.bar.desc == f"scale 0/{n - 1} it 1/3"
    finally:
        bar.close()
    log = (run / "log.txt").read_text()
    assert all(f"scale {k}/{n - 1} (" in log for k in range(n))
    message = resume_message("cpu")(RunStart(run, model, 2, True))
    assert f"at scale 2/{n - 1} (2 of {n} scales saved)" in message


def test_sample_defaults_to_run_samples_with_a_contact_sheet(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["sample", str(run), "--num", "2"]) == 0
    out = run / "samples"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "seed0000.png",
                                                     "seed0001.png"]
    assert f"open {out / 'index.html'}" in capsys.readouterr().err
    sheet = (out / "index.html").read_text()
    w, h = Image.open(out / "seed0000.png").size
    assert 'src="seed0000.png"' in sheet and 'src="seed0001.png"' in sheet
    assert f"seed 1, {w}x{h} px" in sheet
    assert main(["sample", str(run), "--num", "2", "--quiet"]) == 2  # no overwriting
    assert main(["sample", str(run), "--num", "1", "--seed", "5", "--quiet"]) == 0
    assert 'src="seed0005.png"' in (out / "index.html").read_text()  # the sheet shows all
    # A user's own index.html is never replaced.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my page")
    assert main(["sample", str(run), "--num", "1", "--out", str(mine)]) == 0
    assert (mine / "index.html").read_text() == "my page"
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("open ")]
    # Samples are what `singan eval` reads from the folder: the sheet is not an image.
    assert main(["eval", str(run), str(out), "--metric", "swd"]) == 0


def test_sample_out_file_writes_that_file(tiny_run, tmp_path, capsys):
    x = tmp_path / "x.png"
    assert main(["sample", str(tiny_run), "--out", str(x), "--seed", "3", "--quiet"]) == 0
    assert x.is_file()
    assert main(["sample", str(tiny_run), "--num", "1", "--seed", "3", "--out",
                 str(tmp_path / "d"), "--quiet"]) == 0
    assert x.read_bytes() == (tmp_path / "d" / "seed0003.png").read_bytes()
    assert main(["sample", str(tiny_run), "--out", str(x)]) == 2
    assert "exists; use --force" in capsys.readouterr().err
    assert main(["sample", str(tiny_run), "--out", str(x), "--force", "--quiet"]) == 0
    y = tmp_path / "y.png"
    assert main(["sample", str(tiny_run), "--out", str(y), "--num", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names one image file but --num is 3" in err
    assert not y.exists()


def test_cudnn_benchmark_only_on_cuda(tmp_path, img, monkeypatch):
    """--cudnn-benchmark (default on) turns cuDNN's algorithm timing on for CUDA devices only;
    training on the CPU leaves it off, and --no-cudnn-benchmark turns it off on CUDA too."""
    import torch

    from singan.cli.common import use_cudnn_benchmark

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    use_cudnn_benchmark(torch.device("cuda"), True)
    assert torch.backends.cudnn.benchmark is True
    use_cudnn_benchmark(torch.device("cuda", 0), False)
    assert torch.backends.cudnn.benchmark is False
    use_cudnn_benchmark(torch.device("cpu"), True)
    assert torch.backends.cudnn.benchmark is False
    torch.backends.cudnn.benchmark = True  # the CLI sets it for the device it trains on
    assert main(["train", str(img), "--out", str(tmp_path / "r"), *TINY]) == 0
    assert torch.backends.cudnn.benchmark is False
    assert main(["train", "--resume", "--out", str(tmp_path / "r"), "--no-cudnn-benchmark",
                 "--device", "cpu", "--quiet"]) == 0  # already complete: nothing to do


def test_dry_run_prints_config(tmp_path, capsys, img):
    assert main(["train", str(img), "--out", str(tmp_path / "r"), "--dry-run", "--iters", "7",
                 "--min-size", "16", "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["iters"] == 7 and info["sizes"]
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_a_table_of_scales(tmp_path, capsys, img, fixed_throughput):
    from singan.training import estimate_scales

    assert main(["train", str(img), "--out", str(tmp_path / "r"), "-n", "--preset", "paper",
                 "--iters", "7", "--min-size", "16", "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    config = singan.make_config("paper", iters=7, min_size=16)
    scales = estimate_scales(config, (24, 32), throughput=fixed_throughput)
    last = len(scales) - 1
    assert len(lines) == len(scales) + 4  # title, header, a row per scale, total, note
    assert lines[1].split() == ["scale", "size", "(WxH)", "width", "iters", "time", "memory"]
    for s, line in zip(scales, lines[2:]):
        assert line.split()[:4] == [f"{s.scale}/{last}", f"{s.size[1]}x{s.size[0]}",
                                    str(s.channels), "7"]
    assert lines[-2].startswith("all") and "peak" in lines[-2]
    assert "warm-up" in lines[-1] and "--json" in lines[-1]
    assert not (tmp_path / "r").exists()
    assert main(["train", str(img), "--out", str(tmp_path / "r"), "--json", *TINY]) == 2
    assert "--json goes with --dry-run" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_python_m_singan(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=str(src))
    r = subprocess.run([sys.executable, "-m", "singan", "--version"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and "singan" in r.stdout


@pytest.mark.parametrize("extra, preset, note", [
    ([], "consingan-fast", True), (["--preset", "paper"], "paper", False),
    (["--quiet"], "consingan-fast", False), (["--max-size", "100"], "consingan-fast", True),
    (["--mode", "sr"], "fast", True), (["--mode", "animation"], "consingan-fast", True)])
def test_default_preset_on_a_cpu_and_its_note(tmp_path, capsys, extra, preset, note):
    """Without --preset a CPU training gets the CPU's default (not `paper`, many hours there)
    and one line says so; naming a preset or --quiet hides it."""
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (250, 188), (40, 90, 160)).save(path)
    assert main(["train", str(path), "--out", str(tmp_path / "r"), "--dry-run", "--json",
                 "--device", "cpu", *extra]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["preset"] == preset
    assert ("the default on a CPU" in err) == note
    assert not (tmp_path / "r").exists()


def test_default_preset_by_device_and_mode():
    """paper on a GPU; on a CPU the best preset measured there, and for super-resolution (which
    needs SinGAN's family) a SinGAN preset; every default makes a valid config of its mode."""
    from singan.config import MODES, PRESETS, default_preset, make_config

    assert default_preset("cuda") == default_preset("cuda", "sr") == "paper"
    assert default_preset("cpu") == default_preset("cpu", "animation") == "consingan-fast"
    assert default_preset("cpu", "sr") == "fast" and PRESETS["fast"].arch == "singan"
    for device in ("cpu", "cuda"):
        for mode in MODES:
            assert make_config(default_preset(device, mode), mode).mode == mode


# --- resuming with other settings -------------------------------------------------------------


def test_resume_says_which_settings_it_ignores(tiny_run, tmp_path, img, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["train", "--resume", "--out", str(run), "--iters", "1000", "--preset", "fast",
                 "--no-quantize-8bit", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"note: resuming {run} with its own settings; --preset fast, --no-quantize-8bit, " \
           f"--iters 1000 ignored" in err
    assert main(["train", str(img), "--resume", "--out", str(run), "--seed", "4", "--device",
                 "cpu"]) == 0  # the image and the seed are the run's own too
    assert f"its own settings; {img}, --seed 4 ignored" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(run), "--device", "cpu", "--threads", "1",
                 "--log-every", "5"]) == 0
    assert "note: resuming" not in capsys.readouterr().err  # how to run, not what to train


def test_resume_refuses_dry_run(tiny_run, tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tiny_run), "-n"]) == 2
    assert "--dry-run" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tiny_run), "--json"]) == 2
    assert "--json" in capsys.readouterr().err


# --- the default thread count -----------------------------------------------------------------


def fake_cpus(root, siblings: dict[int, str]):
    """A sysfs cpu folder whose cpuN/topology/thread_siblings_list are `siblings`."""
    for cpu, text in siblings.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(text + "\n")
    return root


CPUINFO = """\
processor\t: 0
physical id\t: 0
core id\t\t: 0

processor\t: 1
physical id\t: 0
core id\t\t: 1

processor\t: 2
physical id\t: 0
core id\t\t: 0

processor\t: 3
physical id\t: 1
core id\t\t: 0
"""


def test_physical_cores_from_sysfs_and_cpuinfo(tmp_path):
    from singan.cli.common import physical_cores

    sysfs = fake_cpus(tmp_path / "cpu", {0: "0,4", 1: "1,5", 2: "2", 3: "3", 4: "0,4", 5: "1,5"})
    none = tmp_path / "absent"
    assert physical_cores(range(6), sysfs=sysfs, cpuinfo=none) == 4
    assert physical_cores({0, 4}, sysfs=sysfs, cpuinfo=none) == 1  # two threads of one core
    assert physical_cores({0, 1, 4}, sysfs=sysfs, cpuinfo=none) == 2
    ranges = fake_cpus(tmp_path / "ranges", {0: "0-1", 1: "0-1", 2: "2-3", 3: "2-3"})
    assert physical_cores(range(4), sysfs=ranges, cpuinfo=none) == 2
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    # no sysfs: /proc/cpuinfo's (physical id, core id); processors 0 and 2 share a core
    assert physical_cores(range(4), sysfs=none, cpuinfo=tmp_path / "cpuinfo") == 3
    assert physical_cores({0, 2}, sysfs=none, cpuinfo=tmp_path / "cpuinfo") == 1
    # sysfs that lacks a CPU is not trusted; cpuinfo that lacks one neither: logical count
    assert physical_cores(range(6), sysfs=ranges, cpuinfo=tmp_path / "cpuinfo") == 6
    (tmp_path / "arm").write_text("processor\t: 0\nBogoMIPS\t: 50\n\nprocessor\t: 1\n")
    assert physical_cores({0, 1}, sysfs=none, cpuinfo=tmp_path / "arm") == 2
    assert physical_cores(sysfs=none, cpuinfo=none) >= 1  # this process's CPUs


@pytest.fixture
def restore_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores,want", [(1, 1), (3, 3), (16, 4)])
def test_cli_sets_the_default_thread_count(tiny_run, tmp_path, monkeypatch, restore_threads,
                                           capsys, cores, want):
    """Without --threads, a command sets PyTorch's threads to the physical cores, at most 4;
    --help says so; train-many shares them among its children."""
    import torch

    from singan.cli import common

    monkeypatch.setattr(common, "_machine_cores", lambda: cores)
    monkeypatch.setattr(common, "busy_cores", lambda: 0)
    torch.set_num_threads(7)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s"),
                 "--quiet"]) == 0
    assert torch.get_num_threads() == want
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "t"),
                 "--threads", "2", "--quiet"]) == 0
    assert torch.get_num_threads() == 2
    assert main(["train", "--help"]) == 0
    assert f"at most 4: {want} now" in " ".join(capsys.readouterr().out.split())
    assert main(["train-many", str(img_dir(tmp_path)), "--out", str(tmp_path / "r"), "-n",
                 "--jobs", "2", "--device", "cpu"]) == 0
    assert f"--threads {max(1, min(4, cores // 2))} --quiet" in capsys.readouterr().out


@pytest.mark.parametrize("cores,busy,want", [(2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 5, 1),
                                             (8, 3, 4), (8, 6, 2)])
def test_the_default_leaves_busy_cores_to_other_processes(monkeypatch, cores, busy, want):
    """On a loaded machine OpenMP threads spin for cores other processes hold (a tiny training
    took 451 s instead of 2 s): the default takes only the idle cores."""
    from singan.cli import common

    monkeypatch.setattr(common, "_machine_cores", lambda: cores)
    monkeypatch.setattr(common, "busy_cores", lambda: busy)
    assert common.default_threads() == want


def img_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 24), "gray").save(folder / "a.png")
    return folder
