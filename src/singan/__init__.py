"""SinGAN: learn a generative model from a single natural image.

Scale 0 is the coarsest scale throughout (the paper counts the other way).
"""

__version__ = "0.1.0"

from .config import PRESETS, SinGANConfig, make_config  # noqa: E402
from .data import default_image  # noqa: E402
from .errors import ConfigError, InputError, RunError, SinGANError  # noqa: E402
from .io import load, load_image, save_image, save_run  # noqa: E402
from .models import SinGAN  # noqa: E402
from .pyramid import geometry  # noqa: E402
from .sample import generate  # noqa: E402
from .training import Progress, Trainer, train  # noqa: E402

__all__ = [
    "PRESETS", "ConfigError", "InputError", "Progress", "RunError", "SinGAN", "SinGANConfig",
    "SinGANError", "Trainer", "__version__", "default_image", "generate", "geometry", "load",
    "load_image", "make_config", "save_image", "save_run", "train",
]
