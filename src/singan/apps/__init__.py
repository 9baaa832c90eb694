"""The applications of SinGAN (spec section 6), each a short function over `generate()`.

Scales count from 0 = coarsest; images are tensors in [-1, 1] or PIL images.
"""

from ..errors import InputNotice
from .animate import animate, write_animation
from .blend import EditResult
from .edit import edit
from .harmonize import harmonize
from .paint import paint_to_image
from .sr import sr_config, super_resolve

__all__ = ["EditResult", "InputNotice", "animate", "edit", "harmonize", "paint_to_image",
           "sr_config", "super_resolve", "write_animation"]
