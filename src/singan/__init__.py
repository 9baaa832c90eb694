"""SinGAN: learn a generative model from a single natural image.

Scale 0 is the coarsest scale throughout (the paper counts the other way).
"""

__version__ = "0.1.0"

from .apps import (EditResult, InputNotice, animate, edit, harmonize,  # noqa: E402
                   paint_to_image, sr_config, super_resolve, write_animation)
from .config import PRESETS, SinGANConfig, make_config  # noqa: E402
from .data import default_image  # noqa: E402
from .errors import ConfigError, InputError, RunError, SinGANError  # noqa: E402
from .io import load, load_image, save_image, save_run  # noqa: E402
from .models import SinGAN  # noqa: E402
from .pyramid import geometry  # noqa: E402
from .sample import generate  # noqa: E402
from .training import Progress, Trainer, train  # noqa: E402

__all__ = [
    "PRESETS", "ConfigError", "EditResult", "InputError", "InputNotice", "Progress", "RunError",
    "SinGAN", "SinGANConfig", "SinGANError", "Trainer", "__version__", "animate",
    "default_image", "edit", "generate", "geometry", "harmonize", "load", "load_image",
    "make_config", "paint_to_image", "save_image", "save_run", "sr_config", "super_resolve",
    "train", "write_animation",
]
