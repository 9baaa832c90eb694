"""The run folder's format: config.json plus safetensors files, never pickle.

`save_run` writes a model (and what resuming needs) atomically; `load` and `load_train_state`
check everything (config.json, then every tensor name, dtype and shape in a file's header against
what the config implies) before a tensor is read.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..bounds import MAX_SEED, brief, brief_names, is_number
from ..budget import MAX_PIXELS
from ..config import SinGANConfig
from ..errors import ConfigError, RunError
from ..files import (atomic_write, compare_specs, read_json, read_safetensors_header, read_tensors,
                     state_specs, write_safetensors)
from ..families import Model, build_model
from ..pyramid import consingan_scales
from ..resize import out_size
from ..training import TrainState
from .layout import CONFIG_NAME, MODEL_NAME, STATE_NAME
from .lock import is_training

FORMAT_VERSION = 1


def _meta_int(meta: dict[str, str], key: str, path: Path) -> int:
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        raise RunError(f"{path}: missing or invalid {key!r} metadata") from None


# --- run folders -----------------------------------------------------------------------------

# Optional top-level fields of config.json and their types. A field not listed here is refused
# on loading (a newer singan wrote it, or the file was edited); add new fields here.
OPTIONAL_RUN_FIELDS: dict[str, type] = {"image": dict, "preset": str, "seed": int,
                                         "arithmetic": str}
ARITHMETICS = ("bfloat16", "float32")  # the values of "arithmetic": what the training ran in
_REQUIRED_RUN_FIELDS = ("format_version", "singan_version", "config", "sizes", "scale_factor")


def run_info(model: Model, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of config.json for a model; `extra` may hold OPTIONAL_RUN_FIELDS."""
    info = {
        "format_version": FORMAT_VERSION,
        "singan_version": __version__,
        "config": model.config.to_dict(),
        "sizes": [list(s) for s in model.sizes],
        "scale_factor": model.scale_factor,
    }
    if extra:
        unknown = sorted(set(extra) - set(OPTIONAL_RUN_FIELDS))
        if unknown:
            raise ConfigError(f"run_info: unknown field(s) {unknown}; register them in "
                              f"run.format.OPTIONAL_RUN_FIELDS")
        info.update(extra)
    return info


def save_run(model: Model, run_dir: str | os.PathLike, state: TrainState | None = None,
             extra: dict[str, Any] | None = None) -> Path:
    """Write config.json, model.safetensors and (optionally) train_state.safetensors atomically.

    The model file goes first and the training state second, so a crash between the two leaves a
    state one scale behind, from which resuming retrains that scale; config.json (the same at
    every save of a run) goes last, so a folder is a run only once both tensors files exist. A
    write that fails (full disk, ...) raises RunError and leaves the file it replaced as it was.
    """
    run_dir = Path(run_dir)
    info = run_info(model, extra)
    text = json.dumps(info, indent=2, allow_nan=False) + "\n"  # never Infinity or NaN
    meta = {"format_version": str(FORMAT_VERSION), "num_trained": str(model.num_trained),
            "config": json.dumps(info)}
    files = [(run_dir / MODEL_NAME, lambda: write_safetensors(run_dir / MODEL_NAME,
                                                              model.state_dict(), meta))]
    if state is not None:
        tensors = {f"discriminator.{k}": v for k, v in state.discriminator.items()}
        if state.rng_state is not None:
            tensors["rng_state"] = state.rng_state
        state_meta = {"format_version": str(FORMAT_VERSION), "scale": str(state.scale)}
        if state.pool_seed is not None:
            state_meta["pool_seed"] = str(state.pool_seed)
        files.append((run_dir / STATE_NAME, lambda: write_safetensors(
            run_dir / STATE_NAME, tensors, state_meta)))
    files.append((run_dir / CONFIG_NAME, lambda: atomic_write(run_dir / CONFIG_NAME,
                                                              lambda f: f.write(text.encode()))))
    for path, write in files:
        try:
            write()
        except OSError as e:
            raise RunError(f"{path}: cannot save ({e.strerror or e}); the previous version of "
                           f"the file is unchanged") from None
    return run_dir


def is_singan_config(path: str | os.PathLike) -> bool:
    """Whether a config.json is recognisably singan's (a JSON object with its format and
    package versions), even if it is damaged otherwise; never raises."""
    try:
        info = read_json(path, "a run config", RunError)
    except RunError:
        return False
    return isinstance(info, dict) and "format_version" in info and "singan_version" in info


def is_singan_tensors(path: str | os.PathLike) -> bool:
    """Whether a safetensors file is one singan wrote (its header metadata says so: a model file
    has `num_trained`, a training state `scale`); never raises and reads no tensor."""
    try:
        _, meta = read_safetensors_header(path)
    except RunError:
        return False
    return "format_version" in meta and ("num_trained" in meta or "scale" in meta)


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check config.json of a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a folder (a run is a folder with {CONFIG_NAME} and "
                       f"{MODEL_NAME})")
    path = run_dir / CONFIG_NAME
    if not os.path.lexists(path):
        raise RunError(f"{run_dir}: not a SinGAN run (no {CONFIG_NAME})")
    info = read_json(path, "a run config", RunError)
    return check_run_info(info, path)


def check_run_info(info: Any, path: Path | str) -> dict[str, Any]:
    """Check the content of config.json; returns it with `config` as a SinGANConfig."""
    if not isinstance(info, dict):
        raise RunError(f"{path}: must hold a JSON object")
    version = info.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise RunError(f"{path}: unsupported format_version {brief(version)} (this singan reads "
                       f"{FORMAT_VERSION})")
    missing = [k for k in _REQUIRED_RUN_FIELDS if k not in info]
    if missing:
        raise RunError(f"{path}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(info) - set(_REQUIRED_RUN_FIELDS) - set(OPTIONAL_RUN_FIELDS))
    if unknown:
        raise RunError(f"{path}: unknown field(s) {brief_names(unknown)} (written by a newer "
                       f"singan, or edited?)")
    for key, kind in OPTIONAL_RUN_FIELDS.items():
        if key in info and not (isinstance(info[key], kind) and not isinstance(info[key], bool)):
            raise RunError(f"{path}: field {key!r} must be a JSON {kind.__name__}")
    if info.get("arithmetic", "float32") not in ARITHMETICS:
        raise RunError(f"{path}: field 'arithmetic' must be one of {', '.join(ARITHMETICS)}")
    if not isinstance(info["singan_version"], str):
        raise RunError(f"{path}: field 'singan_version' must be a string")
    try:
        config = SinGANConfig.from_dict(info["config"])
    except ConfigError as e:
        raise RunError(f"{path}: {e}") from None
    sizes = info["sizes"]
    ok = (isinstance(sizes, list) and 1 <= len(sizes) <= 64 and all(
        isinstance(s, list) and len(s) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100_000 for v in s)
        for s in sizes))
    if not ok:
        raise RunError(f"{path}: 'sizes' must be a list of [height, width] pairs of positive ints")
    if any(a[0] > b[0] or a[1] > b[1] for a, b in zip(sizes, sizes[1:])):
        raise RunError(f"{path}: 'sizes' must grow from the coarsest scale to the finest")
    if max(sizes[-1]) > config.max_size + 1 or sum(h * w for h, w in sizes) > MAX_PIXELS:
        raise RunError(f"{path}: 'sizes' are larger than the config's max_size allows")
    sf = info["scale_factor"]
    if not (is_number(sf) and 0 < sf <= 1):
        raise RunError(f"{path}: 'scale_factor' must be a number in (0, 1]")
    if not consistent_sizes(sizes, sf, config):
        raise RunError(f"{path}: 'scale_factor' does not match the ratios of 'sizes' (each scale "
                       f"is the finest times the factor to the power of its distance from it)")
    for key, hi in (("seed", MAX_SEED),):
        if key in info and not 0 <= info[key] <= hi:
            raise RunError(f"{path}: field {key!r} must be between 0 and {hi}")
    info = dict(info)
    info["config"] = config
    info["sizes"] = [tuple(s) for s in sizes]
    return info


def consistent_sizes(sizes: list[list[int]], factor: float,
                     config: SinGANConfig | None = None) -> bool:
    """Whether pyramid `sizes` (coarsest first) are those the factor gives: scale k is the finest
    size times factor^(last - k), rounded up (`pyramid.geometry`), or ConSinGAN's scales of the
    factor for arch consingan (`pyramid.consingan_scales`), to within a pixel. What is derived
    from a run folder (every resampling between scales) is then bounded by its sizes."""
    (fh, fw), last = sizes[-1], len(sizes) - 1
    if config is not None and config.arch == "consingan":
        if len(sizes) != config.num_stages:
            return False
        scales = consingan_scales(factor, config.num_stages)
    else:
        scales = [math.pow(factor, last - k) for k in range(len(sizes))]
    for (h, w), f in zip(sizes, scales):
        if abs(out_size(fh, f) - h) > 1 or abs(out_size(fw, f) - w) > 1:
            return False
    return True


def load(run_dir: str | os.PathLike, device: torch.device | str = "cpu", *,
         allow_incomplete: bool = False) -> Model:
    """Load a trained model from a run folder, in eval mode on `device`.

    Everything is checked before a tensor is read: config.json, then the tensor names, dtypes
    and shapes in the model file's header against those the config implies. Raises RunError if
    the folder is not a run, is corrupt, or (unless `allow_incomplete`) its training did not
    finish. With `allow_incomplete`, a run stopped during its first scale loads with no
    generator.
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    path = run_dir / MODEL_NAME
    specs, meta = read_safetensors_header(path)
    num_scales = len(info["sizes"])
    num_trained = _meta_int(meta, "num_trained", path)
    if not (0 if allow_incomplete else 1) <= num_trained <= num_scales:
        raise RunError(f"{path}: invalid 'num_trained' metadata ({num_trained} for "
                       f"{num_scales} scales)")
    if num_trained < num_scales and not allow_incomplete:
        if is_training(run_dir):
            raise RunError(f"{run_dir}: still training ({num_trained} of {num_scales} scales "
                           f"done); wait for it to finish")
        raise RunError(f"{run_dir}: training stopped after {num_trained} of {num_scales} "
                       f"scales; finish it with `singan train --resume --out {run_dir}`")
    with torch.device("meta"):  # the expected tensors, without allocating them
        ref = build_model(info["config"], info["sizes"], info["scale_factor"])
        ref.grow_to(num_trained)
    compare_specs(specs, state_specs(ref), path)
    tensors = read_tensors(path, specs)
    model = build_model(info["config"], info["sizes"], info["scale_factor"])
    model.grow_to(num_trained)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval()


def load_train_state(run_dir: str | os.PathLike, model: Model) -> TrainState:
    """Read train_state.safetensors of a run for resuming `model` (loaded with
    `allow_incomplete=True`); checked like `load` before any tensor is read.

    The state's scale is the last finished one (-1: none yet, no critic saved); it may be one
    behind the model when a crash came between writing the two files.
    """
    path = Path(run_dir) / STATE_NAME
    specs, meta = read_safetensors_header(path)
    scale = _meta_int(meta, "scale", path)
    if not max(-1, model.num_trained - 2) <= scale < model.num_trained:
        raise RunError(f"{path}: state is for scale {scale}, but the model has "
                       f"{model.num_trained} trained scales")
    rng = specs.get("rng_state")
    if rng is None or rng[0] != "U8" or len(rng[1]) != 1:
        raise RunError(f"{path}: missing or invalid random generator state")
    expected = {"rng_state": rng}
    if scale >= 0:
        with torch.device("meta"):
            ref = model.new_discriminator(scale)
        expected.update({f"discriminator.{k}": v for k, v in state_specs(ref).items()})
    compare_specs(specs, expected, path)
    tensors = read_tensors(path, specs)
    rng_state = tensors.pop("rng_state")
    disc = {k[len("discriminator."):]: v for k, v in tensors.items()}
    pool_seed = _meta_int(meta, "pool_seed", path) if "pool_seed" in meta else None
    if pool_seed is not None and not 0 <= pool_seed < 2**63:
        raise RunError(f"{path}: invalid 'pool_seed' metadata")
    return TrainState(scale=scale, discriminator=disc, rng_state=rng_state, pool_seed=pool_seed)
