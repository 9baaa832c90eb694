"""The Dask backend (`pip install singan[cluster]`): every image is a task on an existing Dask
distributed cluster; the task runs the same attempt as the local scheduler (a child `singan train`)
on a worker and returns its outcome.

Two ways for the run folders to get back:
- shared (default): RUNS is on a file system every worker sees under the same path; the task
  trains straight into RUNS/<name>. A hidden token file in RUNS lets a worker check that it sees
  the same folder, and fail clearly if not.
- return_zip: nothing is shared; the client sends the image (and an interrupted run, to resume)
  with the task, the worker trains in a temporary folder and returns the run folder zipped, which
  the client unpacks into RUNS/<name>.

Retries: when a worker dies, Dask itself runs its tasks again elsewhere (up to the scheduler's
`distributed.scheduler.allowed-failures`); a failed attempt (or a task Dask gave up on) is
submitted again up to `retries` times, as in the local scheduler. Ctrl-C sets a Dask Event that
every task watches: running children are interrupted (they save), queued tasks do not start.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..errors import ClusterError, RunError
from ..files import atomic_write
from ..run import ProgressInfo, pack_run, read_progress, unpack_run
from .jobs import Job, Slot, TrainOptions, cpu_cores
from .process import Outcome, run_attempt, settle
from .report import Batch, BatchResult, Callback

POLL_SECONDS = 0.5
TASK_POLL_SECONDS = 1.0
STOP_WAIT_SECONDS = 120.0  # after Ctrl-C, how long to wait for the tasks to come back


def train_dask(jobs: Sequence[Job], options: TrainOptions, address: str, *,
               device: str = "auto", threads: int | None = None, retries: int = 1,
               return_zip: bool = False, on_update: Callback | None = None,
               poll: float = POLL_SECONDS) -> BatchResult:
    """Train every job as a task on the Dask cluster whose scheduler is at `address`.

    `device` is every child's `--device`; with cuda (any index) each task asks for the worker
    resource GPU=1 and uses the GPU its worker sees. `threads` is every child's `--threads`
    (default: the worker machine's cores divided by its worker's threads). Connecting gives up
    after Dask's `distributed.comm.timeouts.connect` (30 s unless configured).
    """
    try:
        from distributed import Client, Event
    except ImportError:
        raise ClusterError("the Dask backend needs the `cluster` extra: "
                           "pip install 'singan[cluster]'") from None
    gpu = device.startswith("cuda")
    device = "cuda" if gpu else device
    batch = Batch(jobs, retries)
    token = uuid.uuid4().hex
    runs_dirs = sorted({Path(j.run_dir).parent for j in jobs})
    try:
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {address}: {e}") from None
    markers = [] if return_zip else [_write_marker(d, token) for d in runs_dirs]
    try:
        _check_workers(client, gpu)
        submit = _Submitter(client, Event(f"singan-stop-{token}", client=client), options,
                            device, threads, token, gpu, return_zip)
        return _run(batch, client, submit, on_update, poll)
    finally:
        for m in markers:
            m.unlink(missing_ok=True)
        client.close()


def _write_marker(runs_dir: Path, token: str) -> Path:
    path = runs_dir / f".train-many-{token}"
    return atomic_write(path, lambda f: f.write(token.encode()))


def _check_workers(client, gpu: bool) -> None:
    """Refuse GPU jobs on a cluster whose workers offer no GPU resource (they would wait
    forever); with no workers yet, trust that some will join."""
    workers = client.scheduler_info().get("workers", {})
    if gpu and workers and not any(w.get("resources", {}).get("GPU") for w in workers.values()):
        raise ClusterError("--device cuda, but no Dask worker offers the GPU resource; start one "
                           "worker per GPU with `dask worker ADDRESS --nthreads 1 --resources "
                           "GPU=1` (see docs/cluster.md)")


class _Submitter:
    """Submits one attempt of one image as a task."""

    def __init__(self, client, stop, options, device, threads, token, gpu, return_zip):
        self.client, self.stop, self.options = client, stop, options
        self.device, self.threads, self.token = device, threads, token
        self.resources = {"GPU": 1} if gpu else None
        self.return_zip = return_zip

    def __call__(self, rec):
        """The task's future, or the Outcome when the client can already tell it would fail."""
        payload = None
        if self.return_zip:
            payload = _payload(rec.job)
            if isinstance(payload, Outcome):
                return payload
        key = f"singan-train-{rec.job.name}-{rec.attempts + 1}-{uuid.uuid4().hex[:8]}"
        return self.client.submit(dask_attempt, rec.job, self.options, self.device, self.threads,
                                  rec.attempts + 1, self.stop.name, self.token, payload, key=key,
                                  pure=False, resources=self.resources)


def _run(batch: Batch, client, submit: _Submitter, on_update, poll: float) -> BatchResult:
    from distributed import as_completed

    flight = as_completed(loop=client.loop)
    owner = {}  # future key -> (record, time submitted)

    def send(rec) -> None:
        fut = submit(rec)
        if isinstance(fut, Outcome):
            if batch.finish(rec, fut):
                send(rec)
            return
        owner[fut.key] = (rec, time.monotonic())
        flight.add(fut)

    for rec in batch.records:
        _, outcome = settle(rec.job)
        if outcome is not None:
            batch.finish(rec, outcome)
        else:
            send(rec)
    try:
        while not flight.is_empty():
            for fut in flight.next_batch(block=False):
                rec, _ = owner.pop(fut.key)
                if batch.finish(rec, *_collect(fut, rec.job, submit.return_zip)):
                    send(rec)
            if on_update is not None:
                on_update(_snapshot(batch, client, owner, submit.resources is not None))
            time.sleep(poll)
    except KeyboardInterrupt:
        _stop(batch, submit, flight, owner)
        return batch.result(interrupted=True)
    return batch.result(interrupted=False)


def _collect(fut, job: Job, return_zip: bool) -> tuple[Outcome, str]:
    """(outcome, where) of a finished task; a task that raised (or that Dask gave up on after
    its workers died) is a failed attempt that may be retried."""
    try:
        result = fut.result()
    except Exception as e:  # the task's own error, KilledWorker, CancelledError
        return Outcome("failed", error=f"{type(e).__name__}: {e}", retry=True), ""
    data = result.pop("zip", None)
    where = result.pop("where", "")
    outcome = Outcome(**result)
    if return_zip and data:
        try:
            unpack_run(data, Path(job.run_dir), label="the returned zip")
        except (RunError, OSError) as e:
            return Outcome("failed", outcome.seconds, f"cannot unpack the run folder the worker "
                           f"returned: {e}", retry=True), where
    return outcome, where


def _snapshot(batch: Batch, client, owner: dict, gpu: bool):
    """Running = tasks the scheduler has on a worker; their progress record is read when the
    client sees the run folder."""
    keys = {k for ks in client.processing().values() for k in ks}
    now = time.monotonic()
    running = []
    for key, (rec, t0) in owner.items():
        if key in keys:
            running.append((now - t0, _progress(Path(rec.job.run_dir), t0)))
    info = client.scheduler_info().get("workers", {}).values()
    slots = sum(int(w.get("resources", {}).get("GPU", 0)) if gpu else w.get("nthreads", 1)
                for w in info)
    return batch.snapshot(running, slots)


def _progress(run_dir: Path, since: float) -> ProgressInfo | None:
    info = read_progress(run_dir)
    fresh = info is not None and info.status == "running" and info.updated is not None and \
        info.updated >= time.time() - (time.monotonic() - since)
    return info if fresh else None


def _stop(batch: Batch, submit: _Submitter, flight, owner: dict) -> None:
    """Tell every task to stop and collect what comes back (a second Ctrl-C stops waiting)."""
    submit.stop.set()
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    try:
        while not flight.is_empty() and time.monotonic() < deadline:
            for fut in flight.next_batch(block=False):
                rec, _ = owner.pop(fut.key)
                batch.finish(rec, *_collect(fut, rec.job, submit.return_zip))
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    for rec, _ in owner.values():
        rec.status = "interrupted"


# --- on the worker ----------------------------------------------------------------------------


def dask_attempt(job: Job, options: TrainOptions, device: str, threads: int | None,
                 attempt: int, stop_name: str, token: str, payload: dict | None) -> dict:
    """The task: one attempt at one image on this worker; returns the Outcome as a dict, with
    `where` (the worker) and, for return_zip, `zip` (the run folder)."""
    from distributed import Event, get_worker

    worker = get_worker()
    stop = Event(stop_name)
    where = f"worker {worker.address}"
    if stop.is_set():
        return {**Outcome("pending", started=False).to_dict(), "where": where}
    slot = Slot(0, device, threads or _share_of_cores(worker, device))
    if payload is None:
        runs_dir = Path(job.run_dir).parent
        marker = runs_dir / f".train-many-{token}"
        if not marker.is_file():
            return {**Outcome("failed", error=f"{where} cannot see {runs_dir}: --out must be on "
                              f"a file system every worker shares, under the same path (or use "
                              f"--dask-return-zip)", retry=True).to_dict(),
                    "where": where}
        outcome = run_attempt(job, options, slot, attempt, where, stop.is_set, TASK_POLL_SECONDS)
        return {**outcome.to_dict(), "where": where}
    with tempfile.TemporaryDirectory(prefix="singan-train-many-") as tmp:
        local = _unpack_payload(payload, Path(tmp), job)
        outcome = run_attempt(local, options, slot, attempt, where, stop.is_set,
                              TASK_POLL_SECONDS)
        return {**outcome.to_dict(), "where": where, "zip": pack_run(Path(local.run_dir))}


def _share_of_cores(worker, device: str) -> int:
    """CPU threads for one child: this machine's cores divided among the images the worker
    trains at once (its GPUs for cuda tasks, else its threads)."""
    at_once = worker.state.nthreads
    if device == "cuda":
        at_once = int(worker.state.total_resources.get("GPU", 0)) or at_once
    return max(1, cpu_cores() // max(1, at_once))


# --- run folders as zips ----------------------------------------------------------------------


def _payload(job: Job) -> dict | Outcome:
    """What a return_zip task needs: the image's bytes and the run folder so far."""
    try:
        image = Path(job.image).read_bytes()
    except OSError as e:
        return Outcome("failed", error=f"{job.image}: cannot read ({e.strerror or e})",
                       started=False)
    return {"image_name": Path(job.image).name, "image": image,
            "run": pack_run(Path(job.run_dir))}


def _unpack_payload(payload: dict, tmp: Path, job: Job) -> Job:
    image = tmp / "image" / Path(payload["image_name"]).name
    image.parent.mkdir()
    image.write_bytes(payload["image"])
    run_dir = tmp / "runs" / job.name
    run_dir.mkdir(parents=True)
    if payload["run"]:
        unpack_run(payload["run"], run_dir)
    return Job(image=str(image), name=job.name, run_dir=str(run_dir))
