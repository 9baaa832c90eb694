"""Animation (spec 6.4): a damped random walk of the noise around the reconstruction noise."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..files import new_file_mode
from ..models import SinGAN
from ..sample import generate
from .common import check_ready, random_generator

FORMATS = (".gif", ".mp4")


def random_walk(model: SinGAN, scale: int, frames: int, alpha: float, beta: float,
                generator: torch.Generator | None) -> torch.Tensor:
    """(frames, 3, h, w) noise maps of one scale, each a small step from the one before.

    z_t = alpha z_rec + (1 - alpha) (z_{t-1} + beta (z_{t-1} - z_{t-2}) + (1 - beta) eps_t),
    started at z_0 = 0.95 z_rec + 0.05 eps, z_{-1} = z_rec (z_rec is 0 above scale 0).
    """
    def eps() -> torch.Tensor:
        return model.draw_noise(scale, 1, generator=generator)

    z_rec = model.rec_noise(scale)
    z1, z2 = 0.95 * z_rec + 0.05 * eps(), z_rec
    out = []
    for _ in range(frames):
        z = alpha * z_rec + (1 - alpha) * (z1 + beta * (z1 - z2) + (1 - beta) * eps())
        z1, z2 = z, z1
        out.append(z)
    return torch.cat(out)


def animate(model: SinGAN, *, frames: int = 100, alpha: float = 0.1, beta: float = 0.9,
            start_scale: int = 0, seed: int | None = None,
            generator: torch.Generator | None = None, batch: int = 16) -> torch.Tensor:
    """Frames of an animation of the training image (a random walk, not a loop).

    Args:
        model: trained in "animation" mode (`singan train IMAGE --mode animation`).
        frames: number of frames.
        alpha: pull towards the reconstruction noise (0: free walk, 1: frozen).
        beta: momentum of the walk (the paper uses 0.80 to 0.95; higher = smoother).
        start_scale: scales below it replay the reconstruction (0: everything moves).
        seed, generator: randomness (give at most one).
        batch: frames generated at once.

    Returns:
        (frames, 3, H, W) in about [-1, 1] (not clamped).
    """
    check_ready(model, "animation", "animation")
    if not 0 <= start_scale < model.num_scales:
        raise ConfigError(f"start scale must be between 0 and {model.num_scales - 1}, "
                          f"got {start_scale}")
    if frames < 1 or batch < 1:
        raise ConfigError("frames and batch must be at least 1")
    if not (0 <= alpha <= 1 and 0 <= beta <= 1):
        raise ConfigError(f"alpha and beta must be in [0, 1], got {alpha} and {beta}")
    gen = random_generator(model, seed, generator)
    walks = {k: random_walk(model, k, frames, alpha, beta, gen)
             for k in range(start_scale, model.num_scales)}
    chunks = [generate(model, len(idx), start_scale=start_scale,
                       noise={k: z[idx] for k, z in walks.items()})
              for idx in torch.arange(frames).split(batch)]
    return torch.cat(chunks)


def check_format(path: str | os.PathLike) -> str:
    """The file type of an animation path (".gif" or ".mp4"); ConfigError if not writable."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path}: animations are written as .gif or .mp4, not "
                          f"{suffix or 'a file without a suffix'}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ConfigError("writing MP4 needs imageio-ffmpeg: pip install 'singan[video]' "
                              "(or write a .gif)") from None
    return suffix


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) in [-1, 1] -> (T, H, W, 3) uint8 (clamped, rounded)."""
    x = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


def write_animation(frames: torch.Tensor, path: str | os.PathLike, fps: float = 10) -> Path:
    """Write (T, 3, H, W) frames in [-1, 1] as a looping GIF or an MP4 (H.264), atomically.

    MP4 needs the `video` extra (imageio-ffmpeg); odd sizes are padded by repeating the last
    row or column, since H.264 wants even ones.
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = check_format(path)
    if not fps > 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    arr = to_uint8(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".gif":
            iio.imwrite(tmp, arr, extension=".gif", duration=1000 / fps, loop=0)
        else:
            h, w = arr.shape[1:3]
            arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            iio.imwrite(tmp, arr, extension=".mp4", plugin="FFMPEG", fps=fps,
                        codec="libx264", macro_block_size=1)
        os.chmod(tmp, new_file_mode())  # mkstemp made it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
