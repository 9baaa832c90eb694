"""The model families: which model class a config builds (floor 3, beside both classes)."""

from __future__ import annotations

from .config import SinGANConfig
from .consingan import ConSinGAN
from .models import SinGAN

Model = SinGAN | ConSinGAN
MODEL_CLASSES: dict[str, type] = {"singan": SinGAN, "consingan": ConSinGAN}


def build_model(config: SinGANConfig, sizes: list[tuple[int, int]], scale_factor: float) -> Model:
    """An untrained model of the config's family (`config.arch`) for a pyramid of `sizes`."""
    return MODEL_CLASSES[config.arch](config, sizes, scale_factor)


def is_consingan(model) -> bool:
    return getattr(model, "family", "singan") == "consingan"
