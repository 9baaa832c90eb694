"""Training a SinGAN on one image, scale by scale from coarse to fine (spec section 4).

Convention: scale 0 is the coarsest. Everything random comes from the trainer's
`torch.Generator` (the pool of random coarse inputs from its own stream, seeded from it), in a
fixed order, so a seed gives the same model and a resumed run continues exactly.

The engine is split by role:
- `trainer.Trainer`: the lifecycle (start, resume, state, run every scale, fine-tune); it owns
  the random generator and the critic between scales and puts the parts below together;
- `stage.StageEngine`: one stage (set-up, one iteration, the loop with the learning-rate
  milestone, freezing), the same for training a new scale and for fine-tuning trained ones;
- `inputs.RandomInputs`: the random inputs (the pool carried from scale to scale, random window
  corners, each iteration's `Draw`);
- `restarts.Restarts`: divergence restarts (watching losses, restoring, lower learning rates);
- `graphs.GraphedStep`: an iteration replayed as a CUDA graph.

Where a new model family or objective plugs in: the engine is given both. A model family
(`family.ModelFamily`; today `SinGANFamily`, one generator per scale) builds a stage's networks
and noise amplitudes, decides which of them learn at which learning rates, runs the forward pass
through them, makes the generators' updates of an iteration and appends a trained scale to the
model. An objective (`objective.Objective`; today `WGANGP`) turns a critic step's real and fake
into the critic's loss and the generators' fake and reconstruction into theirs, and names the
losses it reports. `Trainer` builds the parts in its constructor; a family or objective is an
addition next to them, not a copy of the loop.

Differences from the original code, all deliberate (see README):
- the fake image is regenerated at every generator step (the original reused a stale graph, which
  newer PyTorch rejects; spec 8.1);
- the coarsest reconstruction noise z_rec is drawn once, as the paper says (the original redraws it
  every iteration; `redraw_z_rec=True` restores that);
- resampling is done in float on the model's device (no 8-bit round trip unless
  `quantize_8bit=True`).
"""

from __future__ import annotations

from ..errors import DivergenceError
from .estimate import (
    PresetInfo,
    RateClock,
    ScaleEstimate,
    Throughput,
    describe_presets,
    estimate_scales,
    estimate_seconds,
    format_duration,
    measure_throughput,
)
from .progress import Callback, Progress, TrainState, expected_work, num_parameters
from .trainer import Trainer, bf16_pays, supports_bf16, train

__all__ = ["Callback", "DivergenceError", "PresetInfo", "Progress", "RateClock", "ScaleEstimate",
           "Throughput", "TrainState", "Trainer", "describe_presets", "estimate_scales",
           "estimate_seconds", "expected_work", "format_duration", "measure_throughput",
           "num_parameters", "bf16_pays", "supports_bf16", "train"]
