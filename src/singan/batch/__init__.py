"""Training one model per image for many images (`singan train-many`), locally or on Dask.

Every image is trained by a child process running `singan train` into its own run folder
RUNS/<name>, so one bad image or crash fails alone; see `train_local` and `cluster.train_dask`.
An entry that cannot even be tried (a path with a NUL byte, a missing image) fails alone too,
in the summary with its reason.
"""

from .jobs import (BROKEN, FINISHED, FOREIGN, INTERRUPTED, NEW, UNUSABLE, Job, Record, Slot,
                   TrainOptions, find_images, job_status, plan_jobs, plan_slots, run_status)
from .local import train_local
from .report import BatchResult, Snapshot, write_summary

__all__ = [
    "BROKEN", "FINISHED", "FOREIGN", "INTERRUPTED", "NEW", "UNUSABLE", "BatchResult", "Job",
    "Record", "Slot", "Snapshot", "TrainOptions", "find_images", "job_status", "plan_jobs",
    "plan_slots", "run_status", "train_local", "write_summary",
]
