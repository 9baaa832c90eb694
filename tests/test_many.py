"""train-many and sample-many: planning, run-folder states, the local scheduler (real children
and stand-ins that record what they were given), Ctrl-C, a killed parent, and the Dask backend on
a LocalCluster on loopback with a worker that dies."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import unhang

import singan
from singan.images import save_image
from singan.errors import InputError
from singan.batch import (BROKEN, FINISHED, FOREIGN, INTERRUPTED, NEW, TrainOptions,
                          find_images, plan_jobs, plan_slots, run_status, train_local,
                          write_summary)
from singan.batch.jobs import child_argv
from singan.batch.report import estimate_left
from singan.run import ProgressInfo
from singan.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ["--preset", "tiny", "--max-size", "32", "--min-size", "16", "--base-channels", "8",
        "--max-channels", "8", "--iters", "3", "--device", "cpu"]
ONE_THREAD = ["--threads", "1"]  # per child; in-process it would change the whole test session


@pytest.fixture(autouse=True)
def child_pythonpath(monkeypatch):
    """Children (and Dask workers) import this checkout's singan."""
    monkeypatch.setenv("PYTHONPATH", str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def wait_for(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def images(tmp_path, tiny_image):
    """A folder of three tiny images, a corrupt one and a file that is not an image."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate(("a", "b", "c")):
        save_image(tiny_image[0].roll(4 * i, dims=-1), folder / f"{name}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image\n")
    return folder


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, tiny_image):
    """A run folder whose training stopped after 2 scales, as after Ctrl-C (do not modify)."""
    from singan.training import Trainer

    tmp = tmp_path_factory.mktemp("interrupted")
    save_image(tiny_image[0], tmp / "int.png")
    original = Trainer.train_scale

    def stop_at_2(self, n, *a, **k):
        if n == 2:
            raise KeyboardInterrupt
        return original(self, n, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "train_scale", stop_at_2)
        assert main(["train", str(tmp / "int.png"), "--out", str(tmp / "run"), "--quiet"]
                    + TINY) == 130
    return tmp / "run"


# --- planning ---------------------------------------------------------------------------------


def test_find_images_folder_list_and_names(tmp_path, images):
    found = find_images([images])
    assert [p.name for p in found] == ["a.png", "b.png", "broken.jpg", "c.png"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    lst = other / "list.txt"
    lst.write_text(f"# a comment\n\na.jpg\n{images / 'a.png'}\n  ../images/b.png  \n")
    listed = find_images([lst, images / "b.png"])  # b twice: trained once
    assert listed == [other / "a.jpg", images / "a.png", images / "b.png"]
    jobs = plan_jobs(listed, tmp_path / "runs")
    names = [j.name for j in jobs]
    assert names[2] == "b" and names[0] != names[1]
    assert all(n.startswith("a-") and len(n) == 8 for n in names[:2])
    assert names == [j.name for j in plan_jobs(listed, tmp_path / "runs")]  # stable
    assert all(Path(j.run_dir).is_absolute() and Path(j.image).is_absolute() for j in jobs)
    with pytest.raises(InputError, match="no such file or folder"):
        find_images([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        find_images([tmp_path / "empty"])


def test_run_status(tmp_path, tiny_run, interrupted_run):
    assert run_status(tmp_path / "absent")[0] == NEW
    (tmp_path / "empty").mkdir()
    assert run_status(tmp_path / "empty")[0] == NEW
    assert run_status(tiny_run)[0] == FINISHED
    status, detail = run_status(interrupted_run)
    assert status == INTERRUPTED and "2 of" in detail
    for name, ours in (("ours", True), ("theirs", False)):
        run = tmp_path / name
        shutil.copytree(tiny_run, run)
        (run / "model.safetensors").write_bytes(b"garbage")
        if ours:
            (run / "train-many.log").write_text("=== attempt 1\n")
        assert run_status(run)[0] == (BROKEN if ours else FOREIGN)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "holiday.jpg").write_bytes(b"x")
    status, detail = run_status(tmp_path / "user")
    assert status == FOREIGN and "not a SinGAN run" in detail


def test_slots_and_child_command(tmp_path):
    cpu = plan_slots(2, cores=5)
    assert [(s.device, s.threads, s.gpu) for s in cpu] == [("cpu", 2, None)] * 2
    assert cpu[0].env()["OMP_NUM_THREADS"] == "2" and "CUDA_VISIBLE_DEVICES" not in cpu[0].env()
    gpu = plan_slots(3, gpus=["0", "1"], cores=2)
    assert [(s.device, s.gpu, s.threads) for s in gpu] == [("cuda", "0", 1), ("cuda", "1", 1),
                                                          ("cuda", "0", 1)]
    assert gpu[1].env()["CUDA_VISIBLE_DEVICES"] == "1"
    job = plan_jobs([tmp_path / "x.png"], tmp_path / "runs")[0]
    opts = TrainOptions(config_args=("--preset", "tiny", "--iters", "5"))
    fresh = child_argv(job, NEW, opts, gpu[1])
    assert fresh[1:3] == ["-m", "singan.cli.worker"]
    assert fresh[3:] == ["train", job.image, "--out", job.run_dir, "--preset", "tiny", "--iters",
                         "5", "--device", "cuda", "--threads", "1", "--quiet"]
    assert "--force" in child_argv(job, BROKEN, opts, gpu[0])
    resume = child_argv(job, INTERRUPTED, opts, cpu[0])
    assert resume[3:7] == ["train", "--resume", "--out", job.run_dir] and "--iters" not in resume


def test_config_flags_round_trip():
    """Every config field given to train-many reaches the child's command line unchanged."""
    import dataclasses

    from singan import SinGANConfig
    from singan.cli import build_parser
    from singan.cli.common import config_argv, config_overrides

    changed = {"bool": lambda v: not v, "int": lambda v: v + 3, "float": lambda v: v / 3 + 0.1,
               "str": lambda v: v + "x"}
    for flip in (False, True):
        overrides = {}
        for f in dataclasses.fields(SinGANConfig):
            if f.name != "mode":
                value = getattr(SinGANConfig(), f.name)
                kind = f.type if isinstance(f.type, str) else f.type.__name__
                overrides[f.name] = changed[kind](value) if flip or kind != "bool" else value
        args = build_parser().parse_args(["train", "--out", "x", *config_argv(overrides)])
        assert config_overrides(args) == overrides


def test_time_left_estimate():
    assert estimate_left([], [(10.0, None)], 3, 2) is None  # nothing to go on yet
    assert estimate_left([], [(10.0, ProgressInfo(percent=50.0))], 0, 1) == pytest.approx(10)
    # 2 done in 100 s each; one running with 30 s left; 3 pending; 2 slots: (30 + 300) / 2
    assert estimate_left([100, 100], [(70.0, ProgressInfo(percent=70.0, eta=30.0))], 3, 2) == \
        pytest.approx(165)
    assert estimate_left([100], [(10.0, None)], 0, 4) == pytest.approx(90)


# --- the local scheduler with real children ---------------------------------------------------


def test_train_many_isolates_a_corrupt_image(tmp_path, images, capsys):
    runs = tmp_path / "runs"
    rc = main(["train-many", str(images), "--out", str(runs), "--jobs", "2", "--quiet"] + TINY +
              ONE_THREAD)
    assert rc == 1  # one image failed
    summary = json.loads((runs / "summary.json").read_text())
    by_name = {r["name"]: r for r in summary["images"]}
    assert set(by_name) == {"a", "b", "c", "broken"}
    assert summary["counts"]["done"] == 3 and summary["counts"]["failed"] == 1
    assert by_name["broken"]["status"] == "failed" and by_name["broken"]["attempts"] == 1
    assert "broken.jpg" in by_name["broken"]["error"]
    assert any(why in by_name["broken"]["error"] for why in ("not an image", "corrupt", "cannot read"))
    for name in "abc":
        assert by_name[name]["status"] == "done" and by_name[name]["seconds"] > 0
        singan.load(runs / name)
    log = (runs / "broken" / "train-many.log").read_text()
    assert "attempt 1: train" in log and "exit status 2" in log
    assert "failed: " in capsys.readouterr().err
    csv_lines = (runs / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("image,name,run,status,attempts,seconds,error")
    assert len(csv_lines) == 5

    # sample-many: every finished run, into OUT/<run>/ with `singan sample`'s names
    out = tmp_path / "samples"
    assert main(["sample-many", str(runs), "--num", "2", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        f"{n}/seed000{i}.png" for n in "abc" for i in (0, 1)]
    assert main(["sample-many", str(runs), "--num", "2", "--out", str(out), "--quiet"]) == 1
    assert "exists" in capsys.readouterr().err


def test_killed_train_many_stops_its_child_and_the_next_call_resumes(tmp_path, tiny_image):
    """SIGKILL the train-many process mid-training: its child notices (parent-death signal),
    saves its finished scales and exits; the next call resumes that run."""
    img = tmp_path / "pic.png"
    save_image(tiny_image[0], img)
    runs = tmp_path / "runs"
    argv = ["train-many", str(img), "--out", str(runs), "--quiet"] + TINY + ONE_THREAD + \
        ["--iters", "60"]
    env = dict(os.environ, PYTHONPATH=str(SRC))
    parent = subprocess.Popen([sys.executable, "-m", "singan", *argv], env=env)
    run = runs / "pic"
    try:
        wait_for(lambda: (run / "previews" / "scale_00.png").exists(), 60, "the first scale")
    finally:
        parent.kill()
        parent.wait()
    progress = run / "progress.json"
    wait_for(lambda: json.loads(progress.read_text())["status"] != "running", 120,
             "the child to stop")
    assert json.loads(progress.read_text())["status"] == "interrupted"
    assert run_status(run)[0] == INTERRUPTED
    # the child records "interrupted" before it exits and lets the run's lock go
    from singan.run.lock import is_training
    wait_for(lambda: not is_training(run), 60, "the child to exit")
    assert main(argv) == 0
    assert "attempt 1: resume" in (run / "train-many.log").read_text()
    starts = [line.split("start at scale ")[1].split(":")[0]
              for line in (run / "log.txt").read_text().splitlines() if "start at scale" in line]
    assert starts[0] == "0" and len(starts) == 2 and int(starts[1]) >= 1
    singan.load(run)


# --- the scheduler with stand-in children ------------------------------------------------------

FAKE = """\
import json, os, shutil, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
name = out.name
state = Path(os.environ["FAKE_DIR"])
first = not (state / (name + ".seen")).exists()
(state / (name + ".seen")).touch()
record = {"name": name, "pid": os.getpid(), "start": time.time(), "argv": args,
          "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "omp": os.environ.get("OMP_NUM_THREADS")}

def write(**extra):
    line = json.dumps({**record, **extra, "end": time.time()}) + "\\n"
    with open(state / "calls.jsonl", "a") as f:
        f.write(line)

def on_int(*_):
    write(result="interrupted")
    sys.exit(130)

signal.signal(signal.SIGINT, on_int)
(state / (name + ".ready")).touch()
if name.startswith("bad"):
    write(result="bad")
    print("singan train: error: " + name + ": not an image file", file=sys.stderr)
    sys.exit(2)
if name.startswith("flaky") and first:
    write(result="flaky")
    print("RuntimeError: something went wrong", file=sys.stderr)
    sys.exit(1)
if name.startswith("selfkill") and first:
    write(result="selfkill")
    os.kill(os.getpid(), signal.SIGKILL)
if name.startswith("workerkill") and first:
    time.sleep(1.5)  # let the client fetch the results this worker holds; then kill it
    write(result="workerkill")
    os.kill(os.getppid(), signal.SIGKILL)
    sys.exit(1)
time.sleep(30 if name.startswith("slow") else float(os.environ.get("FAKE_SLEEP", "0.3")))
shutil.copytree(os.environ["FAKE_TEMPLATE"], out, dirs_exist_ok=True)
write(result="done")
"""


@pytest.fixture
def fake(tmp_path, tiny_run, monkeypatch):
    """A stand-in for `singan`: sleeps, copies a finished run into --out, and appends what it
    was given (pid, times, argv, CUDA_VISIBLE_DEVICES) to FAKE_DIR/calls.jsonl. Images named
    bad*, flaky*, selfkill*, workerkill* fail as their names say (the last three only once)."""
    state = tmp_path / "fake"
    state.mkdir()
    script = state / "fake_singan.py"
    script.write_text(FAKE)
    monkeypatch.setenv("FAKE_DIR", str(state))
    monkeypatch.setenv("FAKE_TEMPLATE", str(tiny_run))

    def calls():
        path = state / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    return TrainOptions(config_args=("--preset", "tiny"), launcher=(sys.executable, str(script))), \
        calls


def make_images(folder: Path, names) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / f"{n}.png").write_bytes(b"stand-in")
    return find_images([folder])


def max_overlap(calls) -> int:
    events = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    now = best = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_slots_never_exceed_jobs_and_failures_are_retried(tmp_path, fake):
    options, calls = fake
    names = ["i0", "i1", "i2", "i3", "bad", "flaky", "selfkill", "theirs"]
    jobs = plan_jobs(make_images(tmp_path / "imgs", names), tmp_path / "runs")
    user_file = tmp_path / "runs" / "theirs" / "mine.txt"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("keep me")
    snaps = []
    result = train_local(jobs, options, plan_slots(2, gpus=["0", "1"]), retries=1,
                         on_update=snaps.append, poll=0.05)
    rec = {r.job.name: r for r in result.records}
    assert not result.interrupted
    assert {n: rec[n].status for n in names} == {
        **{n: "done" for n in names}, "bad": "failed", "theirs": "failed"}
    assert rec["flaky"].attempts == 2 and rec["selfkill"].attempts == 2
    assert rec["bad"].attempts == 1 and "not an image" in rec["bad"].error  # not retried
    assert "something went wrong" not in rec["flaky"].error  # the last attempt's error only
    assert rec["theirs"].attempts == 0 and "not a SinGAN run" in rec["theirs"].error
    assert user_file.read_text() == "keep me" and not (user_file.parent / "model.safetensors").exists()
    log = Path(rec["selfkill"].job.log).read_text()
    assert "exit status -9" in log and "attempt 2: train" in log
    c = calls()
    assert len(c) == 9  # 7 images started (not theirs), flaky and selfkill twice
    assert max_overlap(c) == 2
    for a in c:
        for b in c:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:
                assert a["cuda"] != b["cuda"]  # two children at a time never share a GPU
    assert all(x["argv"][-5:] == ["--device", "cuda", "--threads", str(x["omp"]), "--quiet"]
               for x in c)
    assert snaps[-1].done == 6 and snaps[-1].failed == 2 and snaps[-1].running == 0

    # a second call skips what is finished; a finished run is never started again
    again = train_local(jobs, options, plan_slots(2), retries=0, poll=0.05)
    assert [r.status for r in again.records if r.job.name.startswith("i")] == ["skipped"] * 4
    assert len(calls()) == 10  # only bad ran again
    write_summary(tmp_path / "runs", again, {"backend": "local"})
    counts = json.loads((tmp_path / "runs" / "summary.json").read_text())["counts"]
    assert counts == {"done": 0, "skipped": 6, "failed": 2, "interrupted": 0, "pending": 0}


def test_ctrl_c_interrupts_the_children_and_keeps_the_rest_pending(tmp_path, fake, monkeypatch):
    options, calls = fake
    monkeypatch.setenv("FAKE_SLEEP", "30")
    jobs = plan_jobs(make_images(tmp_path / "imgs", ["p", "q", "r"]), tmp_path / "runs")

    def press_ctrl_c(snap):
        if all((tmp_path / "fake" / f"{n}.ready").exists() for n in "pq"):
            raise KeyboardInterrupt

    t0 = time.monotonic()
    result = train_local(jobs, options, plan_slots(2), on_update=press_ctrl_c, poll=0.05)
    assert time.monotonic() - t0 < 20
    assert result.interrupted
    assert [r.status for r in result.records] == ["interrupted", "interrupted", "pending"]
    assert sorted(c["result"] for c in calls()) == ["interrupted", "interrupted"]
    write_summary(tmp_path / "runs", result, {})
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert summary["interrupted"] and summary["counts"]["pending"] == 1


# --- Dask -------------------------------------------------------------------------------------


def test_dask_backend_with_a_dying_worker(tmp_path, fake, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from singan.batch.cluster import dask_attempt, train_dask

    options, calls = fake
    names = ["d0", "d1", "flaky", "workerkill"]
    jobs = plan_jobs(make_images(tmp_path / "imgs", names), tmp_path / "runs")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  resources={"GPU": 1}) as cluster:
        t0 = time.monotonic()
        result = train_dask(jobs, options, cluster.scheduler_address, device="cuda",
                            threads=1, retries=1, poll=0.1)
        assert time.monotonic() - t0 < 90
        rec = {r.job.name: r for r in result.records}
        assert {n: rec[n].status for n in names} == {n: "done" for n in names}
        assert rec["flaky"].attempts == 2  # our retry
        assert rec["workerkill"].attempts == 1  # Dask ran it again after its worker died
        assert sum(c["name"] == "workerkill" for c in calls()) == 2
        assert all(rec[n].where.startswith("worker tcp://127.0.0.1:") for n in names)
        assert all(c["argv"][-5:-3] == ["--device", "cuda"] for c in calls())
        assert not list((tmp_path / "runs").glob(".train-many-*"))  # the token file is gone
        for n in names:
            assert run_status(Path(rec[n].job.run_dir))[0] == FINISHED

        # a worker that does not see the token file of --out refuses to train there
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            other = plan_jobs(make_images(tmp_path / "imgs4", ["elsewhere"]), tmp_path / "r4")
            answer = client.submit(dask_attempt, other[0], options, "cpu", 1, 1, "no-stop",
                                   "not-the-token", None).result(timeout=30)
        assert answer["status"] == "failed" and "cannot see" in answer["error"]
        assert not (tmp_path / "r4").exists()

        # without a shared folder: images go to the workers and runs come back zipped
        zipped = plan_jobs(make_images(tmp_path / "imgs2", ["z0", "z1"]), tmp_path / "runs2")
        result = train_dask(zipped, options, cluster.scheduler_address, device="cpu",
                            threads=1, return_zip=True, poll=0.1)
        assert [r.status for r in result.records] == ["done", "done"]
        for job in zipped:
            assert run_status(job.run_dir)[0] == FINISHED
            assert "attempt 1: train" in Path(job.log).read_text()

        # Ctrl-C: the running children are interrupted, the queued image never starts
        slow = plan_jobs(make_images(tmp_path / "imgs3", ["slow0", "slow1", "slow2"]),
                         tmp_path / "runs3")
        ready = tmp_path / "fake"

        def press_ctrl_c(snap):
            if sum((ready / f"slow{i}.ready").exists() for i in range(3)) == 2:
                raise KeyboardInterrupt

        t0 = time.monotonic()
        result = train_dask(slow, options, cluster.scheduler_address, device="cpu", threads=1,
                            on_update=press_ctrl_c, poll=0.1)
        assert time.monotonic() - t0 < 25
        assert result.interrupted
        assert sorted(r.status for r in result.records) == ["interrupted", "interrupted",
                                                           "pending"]
        assert sum(c["result"] == "interrupted" for c in calls()) == 2


def test_dask_refuses_gpu_jobs_without_gpu_workers():
    from singan.batch.cluster import ClusterError, _check_workers

    class Client:
        def __init__(self, workers):
            self.workers = workers

        def scheduler_info(self):
            return {"workers": self.workers}

    cpu_only = {"tcp://a:1": {"resources": {}, "nthreads": 4}}
    with pytest.raises(ClusterError, match="no Dask worker offers the GPU resource"):
        _check_workers(Client(cpu_only), gpu=True)
    _check_workers(Client(cpu_only), gpu=False)
    _check_workers(Client({}), gpu=True)  # no workers yet: they may join later
    _check_workers(Client({"tcp://b:1": {"resources": {"GPU": 1}}}), gpu=True)


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize("argv,message", [
    (["train-many", "{tmp}/missing", "--out", "{tmp}/r"], "no such file or folder"),
    (["train-many", "{tmp}/empty", "--out", "{tmp}/r"], "no images found"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/r", "--iters", "0"], "iters"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/r", "--jobs", "0"], "--jobs"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/r", "--retries", "-1"], "--retries"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/r", "--dask-return-zip"], "needs --dask"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/imgs/x.png"], "not a folder"),
    (["train-many", "{tmp}/imgs", "--out", "{tmp}/r", "--dask", "tcp://127.0.0.1:9",
      "--gpus", "0"], "--gpus is for local runs"),
    (["train-many", "{tmp}/imgs/x.png", "--out", "{tmp}/r", "--dask", "tcp://127.0.0.1:9"],
     "cannot reach a Dask scheduler"),
    (["sample-many", "{tmp}/nothing", "--out", "{tmp}/s"], "no such folder"),
    (["sample-many", "{tmp}/imgs", "--out", "{tmp}/s"], "holds no run folders"),
    (["sample-many", "{tmp}/runs", "--out", "{tmp}/s", "--num", "0"], "--num"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, argv, message):
    dask = pytest.importorskip("dask")
    (tmp_path / "empty").mkdir()
    (tmp_path / "runs").mkdir()
    make_images(tmp_path / "imgs", ["x"])
    argv = [a.format(tmp=tmp_path) for a in argv]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_gpus_need_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    make_images(tmp_path / "imgs", ["x"])
    assert main(["train-many", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"),
                 "--gpus", "0,1", "--quiet"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err


def test_dry_run_lists_the_plan(tmp_path, tiny_run, capsys):
    make_images(tmp_path / "imgs", ["new", "old"])
    shutil.copytree(tiny_run, tmp_path / "r" / "old")
    assert main(["train-many", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"), "-n",
                 "--jobs", "2", "--iters", "5", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[:2] == ["new", "train"]
    assert out[1].split("\t")[:2] == ["old", "skip"]
    assert "--iters 5" in out[-1] and "--threads 1" in out[-1]
    assert "--preset consingan-fast" in out[-1]  # no --preset: `singan train`'s on a CPU
    assert not (tmp_path / "r" / "new").exists()


def test_default_preset_follows_the_childrens_device():
    """Without --preset the children get `singan train`'s default for where they train: the
    CPU's for CPU slots and for Dask with --device cpu, paper on GPUs."""
    from singan.batch.jobs import plan_slots
    from singan.cli.many import _default_preset
    from singan.config import DEFAULT_CPU_PRESET

    args = argparse.Namespace(device="auto", mode="generation")
    assert _default_preset(args, plan_slots(2, device="cpu", threads=1)) == DEFAULT_CPU_PRESET
    assert _default_preset(args, plan_slots(2, gpus=["0"], threads=1)) == "paper"
    assert _default_preset(args, None) == "paper"
    cpu = argparse.Namespace(device="cpu", mode="generation")
    assert _default_preset(cpu, None) == DEFAULT_CPU_PRESET
    assert _default_preset(argparse.Namespace(device="cpu", mode="sr"), None) == "fast"


def test_sample_many_skips_unfinished_runs(tmp_path, tiny_run, interrupted_run, capsys):
    runs = tmp_path / "many"
    runs.mkdir()
    shutil.copytree(tiny_run, runs / "done")
    shutil.copytree(interrupted_run, runs / "half")
    (runs / "summary.json").write_text("{}")
    out = tmp_path / "s"
    assert main(["sample-many", str(runs), "--num", "1", "--seed", "3", "--out", str(out)]) == 0
    assert "skipped half: " in capsys.readouterr().err
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == ["done/seed0003.png"]
    shutil.rmtree(runs / "done")
    assert main(["sample-many", str(runs), "--num", "1", "--out", str(out), "--quiet"]) == 2
    assert "no finished run" in capsys.readouterr().err


# --- one bad entry fails alone ------------------------------------------------------------------


def bad_list(folder: Path) -> Path:
    """A list of two stand-in images and, between them, a line with a NUL byte, a line that is
    not UTF-8, a line naming no file and a missing image."""
    make_images(folder, ["good1", "good2"])
    lst = folder / "list.txt"
    lst.write_bytes(b"good1.png\nnul\x00byte.png\ncaf\xe9.png\n/\nmissing.png\ngood2.png\n")
    return lst


def test_unusable_list_lines_fail_alone_and_the_batch_goes_on(tmp_path, fake):
    options, calls = fake
    found = find_images([bad_list(tmp_path / "imgs")])
    assert len(found) == 6  # every line is an entry, the bad ones too
    jobs = plan_jobs(found, tmp_path / "runs")
    result = train_local(jobs, options, plan_slots(1), retries=0, poll=0.05)
    rec = [(r.job.name, r.status, r.attempts, r.error) for r in result.records]
    assert [r[:3] for r in rec] == [("good1", "done", 1), ("nul\\x00byte", "failed", 0),
                                    ("caf\\xe9", "failed", 0), ("", "failed", 0),
                                    ("missing", "failed", 0), ("good2", "done", 1)]
    assert "NUL byte" in rec[1][3] and "not UTF-8" in rec[2][3] and "names no file" in rec[3][3]
    assert "no such file" in rec[4][3]  # the image is checked before its folder is made
    assert sorted(c["name"] for c in calls()) == ["good1", "good2"]  # no child for a bad entry
    write_summary(tmp_path / "runs", result, {})
    rows = json.loads((tmp_path / "runs" / "summary.json").read_text())["images"]
    assert rows[1]["image"].endswith("nul\\x00byte.png") and rows[1]["run"] == rows[1]["log"] == ""
    assert len((tmp_path / "runs" / "summary.csv").read_text().splitlines()) == 7
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "good1", "good2", "summary.csv", "summary.json"]


def test_a_run_folder_that_cannot_be_examined_fails_alone(tmp_path, fake):
    """An OSError about one image's run folder (here a name too long for the file system) fails
    that image, named, and the others are trained."""
    options, calls = fake
    long = "y" * 300
    (tmp_path / "runs").mkdir()  # else looking up RUNS/yyy... fails on RUNS (no such file)
    jobs = plan_jobs(make_images(tmp_path / "imgs", ["ok"]) + [tmp_path / f"{long}.png"],
                     tmp_path / "runs")
    result = train_local(jobs, options, plan_slots(1), retries=0, poll=0.05)
    assert [r.status for r in result.records] == ["done", "failed"]
    assert "cannot examine the run folder" in result.records[1].error
    assert [c["name"] for c in calls()] == ["ok"]


def test_train_many_cli_names_each_bad_entry_in_the_summary(tmp_path, capsys):
    """Through the CLI: bad lines of a list, a missing image and a pipe named like an image fail
    alone, each named in the summary with its reason, and the exit status says so (no child
    is started for any of them, so this takes no training)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    os.mkfifo(folder / "pipe.png")
    unhang(folder / "pipe.png")
    lst = folder / "list.txt"
    lst.write_bytes(b"nul\x00byte.png\ncaf\xe9.png\nmissing.png\npipe.png\n")
    runs = tmp_path / "runs"
    assert main(["train-many", str(lst), "--out", str(runs), "--quiet"] + TINY) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    summary = json.loads((runs / "summary.json").read_text())
    assert summary["counts"]["failed"] == 4
    errors = {Path(r["image"]).name: r["error"] for r in summary["images"]}
    assert errors == {
        "nul\\x00byte.png": "the path holds a NUL byte",
        "caf\\xe9.png": "the path is not UTF-8 text; rename the file",
        "missing.png": f"{folder / 'missing.png'}: no such file",
        "pipe.png": f"{folder / 'pipe.png'}: not a regular file (a device, pipe or socket), not an "
                    f"image file"}
    assert f"failed: {folder}/nul\\x00byte.png: the path holds a NUL byte\n" in err
    assert sorted(p.name for p in runs.iterdir()) == ["summary.csv", "summary.json"]


def test_a_pipe_as_a_source_is_named_as_such(tmp_path, capsys):
    os.mkfifo(tmp_path / "list.txt")
    unhang(tmp_path / "list.txt")
    assert main(["train-many", str(tmp_path / "list.txt"), "--out", str(tmp_path / "r"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "list.txt: not a regular file (a device, pipe or socket)" in err
    assert "no such" not in err and not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def bigger_run(tmp_path_factory, tiny_image):
    """A finished run of 40x30 px (the tiny run is 32x24)."""
    from conftest import QUICK_CLI

    tmp = tmp_path_factory.mktemp("bigger")
    save_image(singan.images.image_to_tensor(singan.default_image(48, 64))[0], tmp / "img.png")
    assert main(["train", str(tmp / "img.png"), "--out", str(tmp / "run"), *QUICK_CLI,
                 "--max-size", "40", "--min-size", "20"]) == 0
    return tmp / "run"


def test_sample_many_names_each_failed_run_and_goes_on(tmp_path, tiny_run, bigger_run, capsys):
    """A run over --max-pixels and a corrupt run each fail with one line naming them; the runs
    after them are sampled, and the exit status is 1."""
    runs = tmp_path / "runs"
    shutil.copytree(bigger_run, runs / "a-big")
    shutil.copytree(tiny_run, runs / "b-corrupt")
    (runs / "b-corrupt" / "model.safetensors").write_bytes(b"garbage")
    shutil.copytree(tiny_run, runs / "c-small")
    out = tmp_path / "s"
    assert main(["sample-many", str(runs), "--num", "1", "--out", str(out),
                 "--max-pixels", "1000"]) == 1
    err = capsys.readouterr().err
    assert "singan sample-many: a-big: output 40x30 = 1200 pixels is over the limit" in err
    assert "singan sample-many: b-corrupt: " in err and "corrupt" in err
    assert "1 run(s)" in err and "2 run(s) failed" in err and "Traceback" not in err
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == ["c-small/seed0000.png"]


@pytest.mark.parametrize("error,said", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate "
                  "memory: you tried to allocate 1125899906842624 bytes."), "out of main memory"),
    (OSError(28, "No space left on device", "x.png"), "x.png: No space left on device"),
])
def test_sample_many_goes_on_after_a_run_that_runs_out(tmp_path, tiny_run, monkeypatch, capsys,
                                                      error, said):
    from singan.cli import sampling

    runs = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(tiny_run, runs / name)
    real = sampling.generate
    seen = []

    def generate(model, *args, **kwargs):
        seen.append(1)
        if len(seen) == 1:
            raise error
        return real(model, *args, **kwargs)

    monkeypatch.setattr(sampling, "generate", generate)
    out = tmp_path / "s"
    assert main(["sample-many", str(runs), "--num", "1", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"singan sample-many: a: {said}" in err and "Traceback" not in err
    if "memory" in said:
        assert "--batch" in err and "--device cpu" not in err
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == ["b/seed0000.png"]


def test_sample_many_keeps_the_traceback_of_a_bug(tmp_path, tiny_run, monkeypatch):
    from singan.cli import sampling

    shutil.copytree(tiny_run, tmp_path / "runs" / "a")

    def generate(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(sampling, "generate", generate)
    with pytest.raises(ZeroDivisionError):
        main(["sample-many", str(tmp_path / "runs"), "--num", "1", "--out", str(tmp_path / "s"),
              "--quiet"])
