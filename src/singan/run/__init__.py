"""The run layer: the one place that knows a run folder.

- `layout`: the names of its files;
- `format`: saving and loading a model and its training state (safetensors + JSON, checked);
- `lock`: one writer at a time;
- `records`: log.txt, stats.jsonl, progress.json (its writer and its one reader);
- `pack`: a run as a zip and back (the web app's model files, the Dask backend's runs);
- `train`: training into a run folder (fresh, forced or resumed);
- `launch`: the training worker processes of the web app and train-many.
"""

from .format import (FORMAT_VERSION, OPTIONAL_RUN_FIELDS, check_run_info, load, load_train_state,
                     read_run_info, run_info, save_run)
from .lock import RunLock, read_lock
from .pack import pack_run, unpack_run
from .records import ProgressInfo, RunRecords, read_progress
from .train import RunStart, resume_run, save_preview, train_run

__all__ = [
    "FORMAT_VERSION", "OPTIONAL_RUN_FIELDS", "ProgressInfo", "RunLock", "RunRecords", "RunStart",
    "check_run_info", "load", "load_train_state", "pack_run", "read_lock", "read_progress",
    "read_run_info", "resume_run", "run_info", "save_preview", "save_run", "train_run",
    "unpack_run",
]
