"""SinGAN: learn a generative model from a single natural image.

Scale 0 is the coarsest scale throughout (the paper counts the other way). The layering of the
package is described in docs/architecture.md.
"""

from ._version import __version__
from .apps import (EditResult, animate, edit, harmonize, paint_to_image, super_resolve,
                   write_animation)
from .config import PRESETS, SinGANConfig, make_config, sr_config
from .data import default_image
from .errors import ConfigError, InputError, InputNotice, RunError, SinGANError
from .images import load_image, save_image
from .models import SinGAN
from .pyramid import geometry
from .run import load, save_run
from .sample import generate
from .training import Progress, Trainer, train

__all__ = [
    "PRESETS", "ConfigError", "EditResult", "InputError", "InputNotice", "Progress", "RunError",
    "SinGAN", "SinGANConfig", "SinGANError", "Trainer", "__version__", "animate",
    "default_image", "edit", "generate", "geometry", "harmonize", "load", "load_image",
    "make_config", "paint_to_image", "save_image", "save_run", "sr_config", "super_resolve",
    "train", "write_animation",
]
