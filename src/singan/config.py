"""The one configuration object of a SinGAN model, its presets and its JSON form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .bounds import Bound, brief, brief_names, is_number
from .errors import ConfigError

MODES = ("generation", "sr", "animation")
ARCHS = ("singan", "consingan")  # model families: a generator per scale, one growing generator
MAX_SIDE = 4096  # largest max_size (long side of the finest training scale)
BOOL_FIELDS = ("noise_padding", "redraw_z_rec", "quantize_8bit", "swd_only", "bf16")

# Type and range of every numeric setting (checked by `validated`, so by the CLI, the web app and
# for every config.json loaded). The upper bounds keep a config from elsewhere from asking for
# absurd allocations; the cross-field rules are in `validated`.
FIELD_BOUNDS: dict[str, Bound] = {
    "max_size": Bound(int, 8, MAX_SIDE),
    "min_size": Bound(int, 8, MAX_SIDE),
    "scale_factor_init": Bound(float, 0, 1, lo_open=True, hi_open=True),
    "num_layers": Bound(int, 2, 32),
    "base_channels": Bound(int, 1, 1024),
    "max_channels": Bound(int, 1, 1024),
    "channels_double_every": Bound(int, 1, 64),
    "coarse_channels": Bound(int, 0, 1024),
    "coarse_scales": Bound(int, 0, 64),
    "noise_amp_scale": Bound(float, 0, 100),
    "iters": Bound(int, 1, 1_000_000),
    "iters_finest": Bound(int, 0, 1_000_000),
    "crop_size": Bound(int, 0, MAX_SIDE),
    "prev_pool": Bound(int, 0, 4096),
    "d_steps": Bound(int, 1, 100),
    "g_steps": Bound(int, 1, 100),
    "gp_every": Bound(int, 1, 100),
    "lr_g": Bound(float, 0, 10, lo_open=True),
    "lr_d": Bound(float, 0, 10, lo_open=True),
    "beta1": Bound(float, 0, 1, hi_open=True),
    "beta2": Bound(float, 0, 1, hi_open=True),
    "lr_decay_at": Bound(float, 0, 1, lo_open=True),
    "lr_gamma": Bound(float, 0, 1, lo_open=True),
    "gp_weight": Bound(float, 0, 1e6),
    "rec_weight": Bound(float, 0, 1e6),
    "train_depth": Bound(int, 1, 64),
    "lr_scale": Bound(float, 0, 10, lo_open=True),
    "num_stages": Bound(int, 2, 64),
    "leaky_slope": Bound(float, 0, 1),
    "swd_weight": Bound(float, 0, 1e6),
    "swd_stages": Bound(int, 0, 64),
    "ms_weight": Bound(float, 0, 1e6),
    "ms_stages": Bound(int, 0, 64),
}


def _setting(default: Any, help: str) -> Any:
    """A config field with its one-line description: the one source of the description of a
    setting, read by the class's docstring (below), `singan train --help` and the web app."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SinGANConfig:
    """Everything that determines a trained model, of either family.

    Runtime knobs (device, seed, output folder) are arguments of `train()`, not fields here, so a
    saved config describes the model and nothing else. Defaults are the SinGAN paper's (`paper`
    preset); `arch="consingan"` selects ConSinGAN's growing generator (`consingan` preset), for
    which `num_stages` sets its pyramid (its own rescaling), `base_channels` its width and
    `num_layers` the conv blocks of a stage's body (`coarse_channels` widens the coarsest
    `coarse_scales` stages); `scale_factor_init`, `max_channels`,
    `channels_double_every`, `prev_pool` and `noise_channels` are SinGAN's only.
    """

    # model family
    arch: str = _setting("singan",
        'model family: "singan" (a generator per scale) or "consingan" (one growing generator)')
    # mode
    mode: str = _setting("generation",
        '"generation", "sr" (for super-resolution) or "animation" (for `singan animate`)')
    # pyramid
    max_size: int = _setting(250,
        'long side of the finest scale in px; larger images are shrunk, never enlarged')
    min_size: int = _setting(25,
        'short side of the coarsest scale in px')
    scale_factor_init: float = _setting(0.75,
        'initial ratio between the sides of two scales; the real one is recomputed per image')
    # networks
    num_layers: int = _setting(5,
        'conv blocks per generator and critic (head + body + tail)')
    kernel_size: int = _setting(3,
        'side of every convolution kernel (1, 3, 5 or 7)')
    base_channels: int = _setting(32,
        'network width at scale 0 (the coarsest)')
    max_channels: int = _setting(128,
        'widest network: widths double every channels_double_every scales up to this')
    channels_double_every: int = _setting(4,
        'scales between two doublings of the network width')
    coarse_channels: int = _setting(0,
        'network width of the coarse_scales coarsest scales, in place of the rule above '
        '(0: no such scales)')
    coarse_scales: int = _setting(0,
        'how many of the coarsest scales have coarse_channels')
    norm: str = _setting("batch",
        '"batch" (BatchNorm after every conv, the paper) or "none"')
    noise_padding: bool = _setting(False,
        'draw noise over the padded border too (animation mode)')
    noise_channels: int = _setting(3,
        'noise channels above the coarsest scale (1: grey, as at scale 0; or 3)')
    # noise
    noise_amp_scale: float = _setting(0.1,
        'noise amplitude per scale = this x RMSE(real, upsampled reconstruction)')
    redraw_z_rec: bool = _setting(False,
        'redraw the coarsest reconstruction noise every iteration (the original code)')
    quantize_8bit: bool = _setting(False,
        'round-trip through 8 bits at every resize (the original code)')
    # optimisation
    iters: int = _setting(2000,
        'iterations per scale (at the coarsest scale when iters_finest is set)')
    iters_finest: int = _setting(0,
        'iterations at the finest scale, linear in between (0: the same as --iters)')
    crop_size: int = _setting(0,
        'train scales larger than this on random windows of this side (0: never)')
    prev_pool: int = _setting(0,
        'draw this many random coarse inputs per scale and reuse them (0: a new one each step)')
    d_steps: int = _setting(3,
        'critic steps per iteration')
    g_steps: int = _setting(3,
        'generator steps per iteration')
    lr_g: float = _setting(5e-4,
        'learning rate of the generators (Adam)')
    lr_d: float = _setting(5e-4,
        'learning rate of the critics (Adam)')
    beta1: float = _setting(0.5,
        "Adam's beta1")
    beta2: float = _setting(0.999,
        "Adam's beta2")
    lr_decay_at: float = _setting(0.8,
        "share of a scale's iterations after which both learning rates drop")
    lr_gamma: float = _setting(0.1,
        'factor of that drop of the learning rates')
    gp_weight: float = _setting(0.1,
        "weight of WGAN-GP's gradient penalty (lambda)")
    gp_every: int = _setting(1,
        'penalise the gradient on critic steps 0, k, 2k, ... of an iteration (weight scaled up)')
    rec_weight: float = _setting(10.0,
        'weight of the reconstruction loss (alpha)')
    # concurrent training (ConSinGAN); 1 = SinGAN's one scale at a time
    train_depth: int = _setting(1,
        'how many of the finest trained scales learn together (1: one at a time, SinGAN)')
    lr_scale: float = _setting(0.1,
        'learning-rate factor per scale below the newest one (with train_depth > 1)')
    # ConSinGAN
    num_stages: int = _setting(6,
        'stages of a consingan pyramid')
    leaky_slope: float = _setting(0.2,
        'negative slope of every LeakyReLU (ConSinGAN: 0.05)')
    # patch sliced-Wasserstein loss (GPDM's) at the finest scales
    swd_weight: float = _setting(0.0,
        "weight of the patch SWD loss (sliced Wasserstein distance of 7x7 patches, 64 random "
        "directions drawn every step) in the generators' loss at the finest swd_stages scales "
        "(0: off)")
    swd_stages: int = _setting(0,
        'how many of the finest scales add the patch SWD loss')
    swd_only: bool = _setting(False,
        'at those scales the patch SWD loss replaces the critic (no critic steps, no adversarial '
        'loss)')
    # mode seeking (Mao et al., CVPR 2019) at the coarsest scales
    ms_weight: float = _setting(0.0,
        "weight of the mode-seeking loss (1 / (distance of two fakes / distance of their "
        "coarsest inputs), L1) in the generators' loss while the coarsest ms_stages scales "
        "train (0: off)")
    ms_stages: int = _setting(0,
        'how many of the coarsest scales add the mode-seeking loss while they train')
    # arithmetic
    bf16: bool = _setting(False,
        'train in bfloat16 arithmetic (autocast; the weights stay float32) where the device has '
        'it natively and it is faster than float32 (GPUs of compute capability 8.0 and up, CPUs '
        'with AMX, AMD CPUs with AVX512 BF16), in float32 elsewhere; --bf16 by name asks for it '
        'wherever it is native (also Intel CPUs with AVX512 BF16 and no AMX, where it is slower)')


    def channels(self, scale: int) -> int:
        """Width of the networks at `scale` (0 = coarsest): coarse_channels at the
        coarse_scales coarsest; above them base_channels for consingan, and for singan
        base_channels doubling every channels_double_every scales up to max_channels."""
        if scale < self.coarse_scales:
            return self.coarse_channels
        if self.arch == "consingan":
            return self.base_channels
        return min(self.base_channels * 2 ** (scale // self.channels_double_every),
                   self.max_channels)

    @property
    def pad(self) -> int:
        """Zero padding applied once at the generator input."""
        return (self.kernel_size - 1) * self.num_layers // 2

    def iters_at(self, scale: int, num_scales: int) -> int:
        """Iterations spent on `scale` of a pyramid of `num_scales` scales."""
        if not self.iters_finest or num_scales < 2:
            return self.iters
        t = scale / (num_scales - 1)
        return max(1, round(self.iters + t * (self.iters_finest - self.iters)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, allow_unknown: bool = False) -> SinGANConfig:
        """Build a config from JSON data, checking every key and type."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown and not allow_unknown:
            raise ConfigError(f"unknown config field(s): {brief_names(unknown)}")
        values = {}
        for name, value in data.items():
            if name in fields:
                values[name] = _coerce(name, value, fields[name].type)
        return cls(**values).validated()

    def validated(self) -> SinGANConfig:
        """Return self after checking that every value is in range; raise ConfigError if not."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        need(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {brief(self.mode)}")
        need(self.arch in ARCHS, f"arch must be one of {', '.join(ARCHS)}, got {brief(self.arch)}")
        need(self.norm in ("batch", "none"), f"norm must be batch or none, got {brief(self.norm)}")
        need(type(self.kernel_size) is int and self.kernel_size in (1, 3, 5, 7),
             "kernel_size must be 1, 3, 5 or 7")
        need(type(self.noise_channels) is int and self.noise_channels in (1, 3),
             f"noise_channels must be 1 or 3, got {brief(self.noise_channels)}")
        for name in BOOL_FIELDS:
            need(isinstance(getattr(self, name), bool), f"{name} must be true or false")
        for name, bound in FIELD_BOUNDS.items():  # type, finiteness and range of every number
            bound.check(getattr(self, name), name)
        need(self.max_size >= self.min_size,
             f"max_size ({self.max_size}) must be at least min_size ({self.min_size})")
        need(self.max_channels >= self.base_channels,
             f"max_channels ({self.max_channels}) must be at least base_channels "
             f"({self.base_channels})")
        need((self.coarse_channels == 0) == (self.coarse_scales == 0),
             "coarse_channels and coarse_scales go together: set both above 0, or both to 0")
        need(self.crop_size == 0 or self.crop_size >= 16,
             f"crop_size must be 0 (off) or at least 16, got {self.crop_size}")
        need(self.gp_every <= self.d_steps,
             f"gp_every must be between 1 and d_steps ({self.d_steps}), got {self.gp_every}")
        need(not self.swd_only or (self.swd_weight > 0 and self.swd_stages > 0),
             "swd_only needs swd_weight > 0 and swd_stages > 0 (the scales it applies to)")
        need(self.ms_weight == 0 or self.ms_stages > 0,
             "ms_weight needs ms_stages > 0 (the coarsest scales it applies to)")
        if self.arch == "consingan":
            need(self.mode != "sr", "super-resolution needs SinGAN's per-scale generators "
                 "(arch singan); `singan sr` trains one")
            need(self.norm == "none", "arch consingan has no normalisation: norm must be none")
            need(not self.prev_pool, "prev_pool is SinGAN's (arch singan); set it to 0")
        return self

    def replace(self, **changes: Any) -> SinGANConfig:
        return dataclasses.replace(self, **changes).validated()


def field_help(name: str) -> str:
    """The one-line description of a config field (its `_setting` text)."""
    return SINGAN_FIELDS[name].metadata["help"]


SINGAN_FIELDS = {f.name: f for f in dataclasses.fields(SinGANConfig)}
# The docstring lists every setting with its description (help(SinGANConfig), the docs).
SinGANConfig.__doc__ = (SinGANConfig.__doc__ or "") + "\n    Settings:\n\n" + "".join(
    f"    - {f.name} (default {f.default!r}): {f.metadata['help']}\n"
    for f in SINGAN_FIELDS.values())


def _coerce(name: str, value: Any, type_name: Any) -> Any:
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    if type_name == "bool":
        if isinstance(value, bool):
            return value
    elif type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif type_name == "float":
        if is_number(value):
            return float(value)
    elif type_name == "str":
        if isinstance(value, str):
            return value
    raise ConfigError(f"config field {name!r} must be {type_name}, got {brief(value)}")


# Presets. `paper` is the paper's configuration; `tiny` is for the demo and the tests; `fast`
# trades some quality for a small fraction of the paper's CPU time: no normalisation, 32 channels at
# every scale, scales above 48 px trained on random 48x48 windows (which reach the borders too), a
# pool of 64 random coarse inputs per scale, 1000 iterations at the coarsest scale falling linearly
# to 500 at the finest, and half the paper's noise at the scales above the coarsest (fewer speckles
# from generators trained this briefly). docs/benchmarks.md, "CPU: the fast preset", measures each
# of these choices and the ones that were tried and dropped.
PRESETS: dict[str, SinGANConfig] = {
    "paper": SinGANConfig(),
    "tiny": SinGANConfig(max_size=64, min_size=20, base_channels=16, max_channels=32,
                         iters=150),
    "fast": SinGANConfig(norm="none", base_channels=32, max_channels=32, crop_size=48,
                         iters=1000, iters_finest=500, prev_pool=64, noise_amp_scale=0.05),
    # A first look in about 3 minutes on a 2-core CPU (the README's first command): `fast`'s
    # recipe on a 160-px image with fewer iterations, 450 -> 225 (docs/benchmarks.md, "The
    # quick preset": the best of the recipes measured for that budget).
    "quick": SinGANConfig(max_size=160, norm="none", base_channels=32, max_channels=32,
                          crop_size=48, iters=450, iters_finest=225, prev_pool=64,
                          noise_amp_scale=0.05),
    # ConSinGAN's published defaults (../shared/docs/consingan-facts.md): 6 stages, 64 channels,
    # 3 conv blocks per stage, LeakyReLU 0.05, no normalisation, 3 stages learning together with
    # learning rates x0.1 per stage down, 2000 iterations per stage; the rest as SinGAN.
    "consingan": SinGANConfig(arch="consingan", num_stages=6, base_channels=64, max_channels=64,
                              num_layers=3, norm="none", leaky_slope=0.05, train_depth=3,
                              lr_scale=0.1, iters=2000),
    # ConSinGAN's recipe cut to about `fast`'s cost (issue 17; docs/benchmarks.md, "Cuts that
    # bring the windowed recipe to `fast`'s cost" and "The cut at `fast`'s cost at 250 px"): 32
    # channels, stages wider than 128 px trained on random 128x128 windows, 2 critic steps with
    # the gradient penalty on one of them, 2000 iterations at the coarsest stage falling to 1000
    # at the finest, the stages below the newest at x0.5 of its learning rate (lr_scale 0.5, not
    # ConSinGAN's 0.1: "lr_scale 0.5" there), bfloat16 where the device has it natively and it is
    # faster (`training.bf16_pays`; float32 elsewhere).
    "consingan-fast": SinGANConfig(arch="consingan", num_stages=6, base_channels=32,
                                   max_channels=32, num_layers=3, norm="none", leaky_slope=0.05,
                                   train_depth=3, lr_scale=0.5, iters=2000, iters_finest=1000,
                                   crop_size=128, d_steps=2, gp_every=2, bf16=True),
}
# `consingan-fast` at ConSinGAN's own width, 64 channels (issue 17; docs/benchmarks.md, "64
# channels: `consingan-wide`"): about 2.3x its cost; on the 10 Places images (one seed so far)
# SIFID below the published ConSinGAN samples', with less diversity.
PRESETS["consingan-wide"] = PRESETS["consingan-fast"].replace(base_channels=64, max_channels=64)

# What each preset is for, one line each: `singan train --help` and the web app's preset list
# add the expected time on the machine (`training.describe_presets`).
PRESET_PURPOSES: dict[str, str] = {
    "paper": "the SinGAN paper's settings, the best quality: for a GPU",
    "fast": "most of paper's quality for a small share of its time: SinGAN on a CPU",
    "quick": "a first look: fast's recipe at 160 px, 450 -> 225 iterations per scale",
    "tiny": "a smoke test: 64 px, narrow networks, few iterations (the tests)",
    "consingan": "ConSinGAN's published settings (one growing generator)",
    "consingan-fast": "ConSinGAN's recipe cut to about fast's cost: 32 channels, 128-px "
                      "windows, 2 critic steps, 2000 -> 1000 iterations, the stages below the "
                      "newest at x0.5 its learning rate, bfloat16 where native",
    "consingan-wide": "consingan-fast at ConSinGAN's 64 channels: closer to its quality, "
                      "about twice consingan-fast's time",
}

# The preset of `singan train`, `singan train-many` and the web app's Train tab when none is named:
# `paper` on a GPU; on a CPU, where `paper` takes many hours, the best preset measured for a CPU
# (docs/benchmarks.md, "The cut at `fast`'s cost at 250 px" and "lr_scale 0.5": `consingan-fast`
# scores 2-3x lower SIFID than `fast` for the same time), until a preset reaches ConSinGAN's
# published quality everywhere. Super-resolution needs SinGAN's per-scale generators: its CPU
# default is `fast`. `default_preset` picks among them.
DEFAULT_PRESET = "paper"
DEFAULT_CPU_PRESET = "consingan-fast"
DEFAULT_CPU_SR_PRESET = "fast"


def default_preset(device_type: str, mode: str = "generation") -> str:
    """The preset used when none is named, for a device of type `device_type` ("cpu", "cuda")
    and a training `mode`."""
    if device_type != "cpu":
        return DEFAULT_PRESET
    return DEFAULT_CPU_SR_PRESET if mode == "sr" else DEFAULT_CPU_PRESET


def default_preset_text() -> str:
    """How the default preset is chosen, for help texts."""
    return (f"{DEFAULT_PRESET} on a GPU, {DEFAULT_CPU_PRESET} on a CPU ({DEFAULT_CPU_SR_PRESET} "
            f"for --mode sr)")

# What each mode changes (spec section 6): SR trains with alpha = 100 and a finer pyramid whose
# factor is kept exactly (2^(-1/3), the step of x2, x4 and x8 super-resolution; `sr_config` sets
# the step of its factor), animation with noise padding and a larger coarsest scale.
MODE_OVERRIDES: dict[str, dict[str, Any]] = {
    "generation": {},
    "sr": {"rec_weight": 100.0, "min_size": 18, "scale_factor_init": 2 ** (-1 / 3)},
    "animation": {"noise_padding": True, "min_size": 20},
}


def make_config(preset: str = DEFAULT_PRESET, mode: str = "generation", **overrides: Any) -> SinGANConfig:
    """Return a preset with a mode's changes and then `overrides` applied.

    Overrides whose value is None are ignored, so CLI flags that were not given can be passed on.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if mode not in MODE_OVERRIDES:
        raise ConfigError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    fields = {f.name for f in dataclasses.fields(SinGANConfig)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ConfigError(f"unknown config field(s): {', '.join(bad)}")
    changes = dict(MODE_OVERRIDES[mode], mode=mode)
    changes.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(PRESETS[preset], **changes).validated()


# --- super-resolution ----------------------------------------------------------------------------

MAX_SR_FACTOR = 16.0


def sr_steps(factor: float) -> tuple[int, float]:
    """(number of steps, up-sampling per step) of super-resolution by a total factor > 1:
    k = round(3 log2 F) steps of F^(1/k) (x4: 6 steps of 1.26)."""
    if not (isinstance(factor, (int, float)) and 1.0 < factor <= MAX_SR_FACTOR):
        raise ConfigError(f"super-resolution factor must be > 1 and <= {MAX_SR_FACTOR:g}, "
                          f"got {factor!r}")
    steps = max(1, round(3 * math.log2(factor)))
    return steps, factor ** (1.0 / steps)


def sr_config(factor: float, preset: str | None = None, **overrides: Any) -> SinGANConfig:
    """The training configuration for super-resolution by `factor`, the same for `singan sr` and
    `train(image, sr_config(F))`: mode "sr" (alpha 100, coarsest side 18 px), the pyramid factor
    exactly 1 / F^(1/k), and the image learnt at its full size (`max_size` MAX_SIDE: shrunk only
    above that, never enlarged) unless `max_size` is given. `overrides` as for `make_config`.
    """
    _, step = sr_steps(factor)
    overrides.setdefault("scale_factor_init", 1.0 / step)
    overrides.setdefault("max_size", MAX_SIDE)
    return make_config(preset or DEFAULT_PRESET, mode="sr", **overrides)
