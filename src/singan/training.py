"""Training a SinGAN on one image, scale by scale from coarse to fine (spec section 4).

Differences from the original code, all deliberate (see README):
- the fake image is regenerated at every generator step (the original reused a stale graph, which
  newer PyTorch rejects; spec 8.1);
- the coarsest reconstruction noise z_rec is drawn once, as the paper says (the original redraws it
  every iteration; `redraw_z_rec=True` restores that);
- resampling is done in float on the model's device (no 8-bit round trip unless
  `quantize_8bit=True`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import SinGANConfig
from .errors import SinGANError
from .losses import d_wgan_loss, g_adv_loss, gradient_penalty, rec_loss
from .models import Discriminator, SinGAN, crop_window, init_weights
from .pyramid import build_pyramid, geometry
from .validate import POOL_CHUNK_FLOATS


@dataclass
class Progress:
    """What the training loop reports after every iteration."""

    scale: int  # scale being trained (0 = coarsest)
    num_scales: int
    iteration: int  # 1-based iteration within the scale
    iters: int  # iterations of this scale
    elapsed: float  # seconds since training (or resuming) began
    losses: dict[str, float] | None = None  # filled every `log_every` iterations and at the end
    scale_done: bool = False  # True once for the last iteration of a scale
    event: str | None = None  # set on a notice, not an iteration: e.g. a restarted scale


Callback = Callable[[Progress], None]


@dataclass
class TrainState:
    """What resuming needs beyond the model: the last critic and the random generator's state."""

    scale: int  # last finished scale
    discriminator: dict[str, torch.Tensor] = field(default_factory=dict)
    rng_state: torch.Tensor | None = None
    pool_seed: int | None = None  # seed of the pool's random stream (presets with prev_pool)


class DivergenceError(SinGANError):
    """Training diverged (non-finite or exploding losses) and restarting the scale did not help."""


class _Diverged(Exception):
    """Raised at a log point whose losses are not finite or exceed the bound."""

    def __init__(self, progress: Progress, bad: dict[str, float]):
        super().__init__(", ".join(f"{k} {v:.4g}" for k, v in bad.items()))
        self.progress = progress


def watch_losses(callback: Callback | None, bound: float) -> Callback:
    """Wrap a callback: raise _Diverged when a log point's losses are non-finite or > bound.

    Only the losses the loop reports every `log_every` iterations are checked, so watching adds
    no host synchronisation.
    """
    def watched(p: Progress) -> None:
        if p.losses is not None:
            bad = {k: v for k, v in p.losses.items() if not math.isfinite(v) or abs(v) > bound}
            if bad:
                raise _Diverged(p, bad)
        if callback is not None:
            callback(p)
    return watched


def requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class Trainer:
    """Trains the scales of a `SinGAN` one after another.

    Use `Trainer.from_image(...)` to start and `Trainer(model, state, ...)` to resume; `run()`
    trains every remaining scale.

    Divergence: when a log point's losses are non-finite or larger than `loss_bound`, `run()`
    restarts the scale from its starting state with both learning rates multiplied by
    `restart_lr_factor` (again at each restart), at most `max_restarts` times, then raises
    DivergenceError. `train_scale` takes its learning rates from `self.config`.
    """

    batch_pairs = True  # False: run real and fake (fake and reconstruction) as separate passes
    max_restarts = 3
    restart_lr_factor = 0.5
    loss_bound = 1e6

    def __init__(self, model: SinGAN, *, generator: torch.Generator,
                 discriminator: Discriminator | None = None, log_every: int = 25,
                 cuda_graphs: bool = False, pool_seed: int | None = None):
        self.model = model
        self.config = model.config
        self.gen = generator
        self.device = model.z_rec.device
        self.discriminator = discriminator
        self.log_every = log_every
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.graph_warmup = 3  # eager iterations per scale before capturing the graph
        # The pool of random coarse inputs (prev_pool) follows its own random stream, so that
        # it can be carried from scale to scale and rebuilt exactly when resuming.
        if pool_seed is None and self.config.prev_pool:
            pool_seed = int(torch.randint(0, 2**62, (), generator=generator,
                                          device=self.device))
        self.pool_seed = pool_seed
        self._pool: tuple[int, torch.Tensor] | None = None  # (scale, pool) as last drawn
        self._pool_gen: torch.Generator | None = None

    @classmethod
    def from_image(cls, image: torch.Tensor, config: SinGANConfig, *,
                   device: torch.device | str = "cpu", seed: int = 0,
                   log_every: int = 25, cuda_graphs: bool = False, geometry=None) -> Trainer:
        """Set up training on a (1, 3, H, W) image in [-1, 1]."""
        from .pyramid import geometry_for
        geo = geometry or geometry_for(config, *image.shape[-2:])
        model = SinGAN(config, list(geo.sizes), geo.scale_factor).to(device)
        reals = build_pyramid(image.to(device=device, dtype=torch.float32), geo,
                              quantize=config.quantize_8bit)
        model.set_reals(reals)
        gen = torch.Generator(device=device).manual_seed(int(seed))
        return cls(model, generator=gen, log_every=log_every, cuda_graphs=cuda_graphs)

    @classmethod
    def resume(cls, model: SinGAN, state: TrainState, *, log_every: int = 25,
               cuda_graphs: bool = False) -> Trainer:
        """Continue training after `state.scale`, with the model's first scales already trained."""
        device = model.z_rec.device
        gen = torch.Generator(device=device)
        if state.rng_state is not None:
            gen.set_state(state.rng_state.cpu())
        disc = None
        if state.discriminator:
            disc = model.new_discriminator(state.scale).to(device)
            disc.load_state_dict(state.discriminator)
        while model.num_trained > state.scale + 1:  # drop a scale saved without its train state
            del model.generators[-1]
            model.noise_amp = model.noise_amp[:-1].clone()
        return cls(model, generator=gen, discriminator=disc, log_every=log_every,
                   cuda_graphs=cuda_graphs, pool_seed=state.pool_seed)

    def state(self) -> TrainState:
        disc = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()} \
            if self.discriminator is not None else {}
        return TrainState(scale=self.model.num_trained - 1, discriminator=disc,
                          rng_state=self.gen.get_state(), pool_seed=self.pool_seed)

    # --- the loop ----------------------------------------------------------------------------

    def run(self, callback: Callback | None = None,
            on_scale_end: Callable[[Trainer], None] | None = None) -> SinGAN:
        """Train every scale not trained yet; returns the model in eval mode."""
        start = time.perf_counter()
        while not self.model.is_complete:
            self._train_scale_restarting(self.model.num_trained, callback, start)
            if on_scale_end is not None:
                on_scale_end(self)
        return self.model.eval()

    def _train_scale_restarting(self, n: int, callback: Callback | None, start: float) -> None:
        """`train_scale(n)`, restarted with lower learning rates when its losses diverge."""
        base, saved = self.config, self._snapshot(n)
        try:
            for attempt in range(self.max_restarts + 1):
                try:
                    self.train_scale(n, watch_losses(callback, self.loss_bound), start)
                    return
                except _Diverged as e:
                    where = f"scale {n}, iteration {e.progress.iteration}: losses diverged ({e})"
                    if attempt == self.max_restarts:
                        raise DivergenceError(
                            f"{where} after {attempt} restart(s) with lower learning rates; the "
                            f"scales finished so far are kept (try a smaller --lr-g/--lr-d or a "
                            f"larger --gp-weight)") from None
                    self._restore(saved)
                    factor = self.restart_lr_factor ** (attempt + 1)
                    self.config = base.replace(lr_g=base.lr_g * factor, lr_d=base.lr_d * factor)
                    if callback is not None:
                        p = e.progress
                        callback(Progress(n, p.num_scales, p.iteration, p.iters, p.elapsed,
                                          p.losses, event=f"{where}; restarting the scale with "
                                          f"learning rates x{factor:g} (restart {attempt + 1} "
                                          f"of {self.max_restarts})"))
        finally:
            self.config = base

    def _snapshot(self, n: int) -> dict:
        """What training scale n changes in place: RNG, z_rec, earlier generators that learn."""
        lo = max(0, n - self.config.train_depth + 1)
        return {"rng": self.gen.get_state(), "z_rec": self.model.z_rec.clone(),
                "generators": {k: {name: t.clone() for name, t in
                                   self.model.generators[k].state_dict().items()}
                               for k in range(lo, n)}}

    def _restore(self, saved: dict) -> None:
        self.gen.set_state(saved["rng"])
        self.model.z_rec.copy_(saved["z_rec"])
        for k, state in saved["generators"].items():
            self.model.generators[k].load_state_dict(state)

    def _new_networks(self, n: int) -> tuple[nn.Module, Discriminator]:
        """G_n and D_n: copies of scale n-1's when widths match (warm start), else fresh."""
        model, c = self.model, self.config
        g_net = model.new_generator(n).to(self.device)
        d_net = model.new_discriminator(n).to(self.device)
        if n > 0 and c.channels(n) == c.channels(n - 1) and self.discriminator is not None:
            g_net.load_state_dict(model.generators[n - 1].state_dict())
            d_net.load_state_dict(self.discriminator.state_dict())
        else:
            init_weights(g_net, self.gen)
            init_weights(d_net, self.gen)
        return g_net, d_net

    @torch.no_grad()
    def _random_prev(self, upto: int, batch: int) -> torch.Tensor:
        """Fresh random samples of the frozen scales 0..upto-1, up-sampled to scale `upto`."""
        model = self.model
        x = model.z_rec.new_zeros(batch, 3, *model.sizes[0])
        for k in range(upto):
            x = model.scale_step(k, x, model.draw_noise(k, batch, generator=self.gen))
            x = model.upsample(x, model.sizes[k + 1])
        return x

    @torch.no_grad()
    def _pool_at(self, scale: int) -> torch.Tensor:
        """The pool of `prev_pool` random inputs of `scale` (samples of the frozen scales below).

        Each scale's pool is the previous scale's pool taken one generator further, with noise
        from the pool's own stream (seeded by `pool_seed`), so a run draws every pool at the cost
        of one pass per scale; a resumed trainer replays the same passes from the seed and gets
        the same pool. Asked again for the same scale (a restarted scale), it returns the same.
        """
        if self._pool is None or not scale - 1 <= self._pool[0] <= scale:
            self._pool_gen = torch.Generator(device=self.device).manual_seed(self.pool_seed)
            self._pool = (0, self.model.z_rec.new_zeros(self.config.prev_pool, 3,
                                                        *self.model.sizes[0]))
        while self._pool[0] < scale:
            self._pool = (self._pool[0] + 1, self._advance_pool(*self._pool))
        return self._pool[1]

    def _advance_pool(self, k: int, pool: torch.Tensor) -> torch.Tensor:
        """Scale k's generator on every input of the pool, up-sampled to scale k+1; in chunks
        that keep each activation under POOL_CHUNK_FLOATS floats."""
        model, c = self.model, self.config
        (h, w), pad = model.sizes[k], 2 * c.pad
        chunk = max(1, POOL_CHUNK_FLOATS // (c.max_channels * (h + pad) * (w + pad)))
        out = pool.new_empty(pool.shape[0], 3, *model.sizes[k + 1])
        for i in range(0, pool.shape[0], chunk):
            x = pool[i:i + chunk]
            z = model.draw_noise(k, x.shape[0], generator=self._pool_gen)
            out[i:i + chunk] = model.upsample(model.scale_step(k, x, z), model.sizes[k + 1])
        return out

    def _crop_size(self, n: int) -> tuple[int, int] | None:
        """(h, w) of the random windows scale n trains on, or None for the whole image."""
        c, (h, w) = self.config, self.model.sizes[n]
        if not c.crop_size or max(h, w) <= c.crop_size:
            return None
        return min(h, c.crop_size), min(w, c.crop_size)

    def _setup_scale(self, n: int) -> _Stage:
        """Networks, optimisers and fixed inputs for training scale n."""
        model, c, gen = self.model, self.config, self.gen
        for g in model.generators:
            g.eval()
            requires_grad(g, False)
        g_net, d_net = self._new_networks(n)
        lo = max(0, n - c.train_depth + 1)  # first scale that learns in this stage
        nets = {k: model.generators[k] for k in range(lo, n)}
        nets[n] = g_net
        for k in range(lo, n):
            nets[k].train()
            requires_grad(nets[k], True)
        g_net.train()
        d_net.train()

        # Noise amplitude of the new scale and the fixed inputs of the reconstruction.
        real = model.reals[n]
        if n == 0:
            model.z_rec.copy_(model.draw_noise(0, 1, generator=gen))
            amp_n = torch.ones((), device=self.device)
        else:
            rec_prev = model.reconstruct(n)
            amp_n = c.noise_amp_scale * torch.sqrt(torch.mean((real - rec_prev) ** 2))
        amps = {k: model.noise_amp[k] for k in range(lo, n)}
        amps[n] = amp_n

        # Optimisers: the newest scale at full rate, earlier learning scales scaled down.
        graphs = self.cuda_graphs
        def lr(v: float):  # capturable optimisers need learning rates as tensors
            return torch.tensor(v, device=self.device) if graphs else v
        g_groups = [{"params": list(nets[k].parameters()),
                     "lr": lr(c.lr_g * c.lr_scale ** (n - k))} for k in range(lo, n + 1)]
        g_opt = torch.optim.Adam(g_groups, lr=lr(c.lr_g), betas=(c.beta1, c.beta2),
                                 capturable=graphs)
        d_opt = torch.optim.Adam([{"params": list(d_net.parameters()), "lr": lr(c.lr_d)}],
                                 lr=lr(c.lr_d), betas=(c.beta1, c.beta2), capturable=graphs)
        iters = c.iters_at(n, model.num_scales)
        pool = self._pool_at(lo) if c.prev_pool else None
        sums = {k: torch.zeros((), device=self.device) for k in ("d_loss", "g_loss", "rec_loss",
                                                                "gp")}
        return _Stage(n=n, lo=lo, iters=iters, nets=nets, amps=amps, d_net=d_net, g_opt=g_opt,
                      d_opt=d_opt, real=real, rec_in=model.reconstruct(lo),
                      rec_z={k: model.rec_noise(k) for k in range(lo, n + 1)},
                      crop=self._crop_size(n), pool=pool, sums=sums)

    def _draw_inputs(self, st: _Stage) -> dict[str, torch.Tensor]:
        """Every random input of one iteration, drawn from the trainer's generator."""
        model, c, gen = self.model, self.config, self.gen
        inp = {}
        if st.n == 0 and c.redraw_z_rec:  # the original code's behaviour
            inp["z_rec"] = model.draw_noise(0, 1, generator=gen)
        inp["z_n"] = model.draw_noise(st.n, 1, generator=gen)  # once per iteration
        # Random inputs of every critic step: drawn as one batch through the frozen scales, or
        # picked from the pool drawn when the scale started.
        if st.pool is not None:
            picks = torch.randint(st.pool.shape[0], (c.d_steps,), generator=gen,
                                  device=self.device)
            inp["prevs"] = st.pool[picks]
        else:
            inp["prevs"] = self._random_prev(st.lo, c.d_steps)
        for k in range(st.lo, st.n):
            inp[f"z{k}"] = model.draw_noise(k, c.d_steps, generator=gen)
        inp["u"] = torch.rand(c.d_steps, 1, 1, 1, generator=gen, device=self.device)
        if st.crop is not None:
            inp["corner"] = self._window_corners(st.n, st.crop, c.d_steps)
        return inp

    def _window_corners(self, n: int, crop: tuple[int, int], count: int) -> torch.Tensor:
        """(count, 2) random window corners (top, left) at scale n, as a long tensor.

        Drawn uniformly over positions that let the window stick out by half its size, then
        clamped into the image, so that the rows and columns at the borders (where the generator
        sees the zero padding) are covered about half as often as an interior one, instead of
        about 1/crop as often with corners drawn inside the image.
        """
        (h, w), (ch, cw) = self.model.sizes[n], crop
        half = torch.tensor([ch // 2, cw // 2], device=self.device)
        span = torch.tensor([h - ch + 1, w - cw + 1], device=self.device) + 2 * half
        top_left = torch.rand(count, 2, generator=self.gen, device=self.device) * span
        hi = torch.tensor([h - ch, w - cw], device=self.device)
        return (top_left.long() - half).clamp(min=torch.zeros_like(hi), max=hi)

    def _step(self, st: _Stage, inp: dict[str, torch.Tensor]) -> None:
        """One training iteration: critic steps, then generator steps (spec 4.2)."""
        model, c = self.model, self.config
        d_net, nets, amps = st.d_net, st.nets, st.amps
        rec_z = dict(st.rec_z)
        if "z_rec" in inp:
            model.z_rec.copy_(inp["z_rec"])
            rec_z[0] = inp["z_rec"]

        def forward(x, zs, window):
            for k in range(st.lo, st.n):
                x = model.upsample(model.scale_step(k, x, zs[k], nets[k], amps[k]),
                                   model.sizes[k + 1])
            return model.scale_step(st.n, x, zs[st.n], nets[st.n], amps[st.n], window)

        # Without normalisation every image of a batch is computed on its own, so the critic
        # scores real and fake, and the generators make the fake and the reconstruction, as one
        # batch of two: the same arithmetic in half the calls (BatchNorm would mix the two).
        batched = c.norm == "none" and self.batch_pairs

        # Critic steps.
        requires_grad(d_net, True)
        gp_scale = c.d_steps / len(range(0, c.d_steps, c.gp_every))
        for j in range(c.d_steps):
            zs = {k: inp[f"z{k}"][j:j + 1] for k in range(st.lo, st.n)}
            zs[st.n] = inp["z_n"]
            window = None if st.crop is None else (inp["corner"][j, 0], inp["corner"][j, 1],
                                                   *st.crop)
            target = st.real if window is None else crop_window(st.real, *window)
            with torch.no_grad():
                fake = forward(inp["prevs"][j:j + 1], zs, window)
            if batched:
                d_real, d_fake = d_net(torch.cat([target, fake])).chunk(2)
            else:
                d_real, d_fake = d_net(target), d_net(fake)
            d_loss = d_wgan_loss(d_real, d_fake)
            if j % c.gp_every == 0:  # lazy penalty: fewer steps, same weight per iteration
                gp = gradient_penalty(d_net, target, fake, u=inp["u"][j:j + 1])
                d_loss = d_loss + c.gp_weight * gp_scale * gp
            st.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            st.d_opt.step()

        # Generator steps: regenerate the fake each time, with the last critic step's inputs.
        requires_grad(d_net, False)
        if batched:
            both_in = torch.cat([inp["prevs"][-1:], st.rec_in])
            both_z = {k: torch.cat([zs[k], rec_z[k]]) for k in zs}
        for _ in range(c.g_steps):
            if batched:
                fake, rec_out = forward(both_in, both_z, window).chunk(2)
            else:
                fake = forward(inp["prevs"][-1:], zs, window)
                rec_out = forward(st.rec_in, rec_z, window)
            g_adv = g_adv_loss(d_net(fake))
            rec = c.rec_weight * rec_loss(rec_out, target)
            st.g_opt.zero_grad(set_to_none=True)
            (g_adv + rec).backward()
            st.g_opt.step()

        # Running sums stay on the device; they are read only when logging.
        with torch.no_grad():
            for key, v in (("d_loss", d_loss), ("g_loss", g_adv), ("rec_loss", rec), ("gp", gp)):
                st.sums[key].add_(v.detach())

    def train_scale(self, n: int, callback: Callback | None = None,
                    start: float | None = None) -> None:
        """Train scale n (with up to `train_depth - 1` coarser scales alongside) and append it."""
        model, c = self.model, self.config
        start = time.perf_counter() if start is None else start
        st = self._setup_scale(n)
        milestone = int(round(c.lr_decay_at * st.iters))
        step = self._graphed_step(st, self.graph_warmup) if self.cuda_graphs else \
            (lambda inp: self._step(st, inp))
        count = 0
        for it in range(st.iters):
            if it == milestone:
                for opt in (st.g_opt, st.d_opt):
                    _scale_lr(opt, c.lr_gamma)
            step(self._draw_inputs(st))
            count += 1
            last = it + 1 == st.iters
            losses = None
            if (it + 1) % self.log_every == 0 or last:
                losses = {k: float(v) / count for k, v in st.sums.items()}
                losses["noise_amp"] = float(st.amps[n])
                for v in st.sums.values():
                    v.zero_()
                count = 0
            if callback is not None:
                callback(Progress(n, model.num_scales, it + 1, st.iters,
                                  time.perf_counter() - start, losses, last))

        for net in st.nets.values():
            requires_grad(net, False)
            net.eval()
        requires_grad(st.d_net, False)
        st.d_net.eval()
        model.add_scale(st.nets[n], st.amps[n].detach())
        self.discriminator = st.d_net

    def _graphed_step(self, st: _Stage, warmup: int = 3):
        """The iteration as a replayed CUDA graph (after a few eager warm-up iterations).

        The random inputs are drawn eagerly, exactly as without graphs, and copied into the
        graph's static input tensors; the graph replays the same kernels as `_step`.
        """
        static: dict[str, torch.Tensor] = {}
        state = {"graph": None, "done": 0}

        def step(inp: dict[str, torch.Tensor]) -> None:
            if state["graph"] is not None:
                for k, v in inp.items():
                    static[k].copy_(v)
                state["graph"].replay()
                return
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._step(st, inp)
            torch.cuda.current_stream().wait_stream(side)
            state["done"] += 1
            if state["done"] == warmup and not state.get("failed"):
                static.update({k: v.clone() for k, v in inp.items()})
                sums = {k: v.clone() for k, v in st.sums.items()}
                graph = torch.cuda.CUDAGraph()
                try:
                    with torch.cuda.graph(graph):
                        self._step(st, static)
                except RuntimeError as e:  # keep training eagerly rather than fail
                    warnings.warn(f"CUDA graph capture failed, training without graphs: {e}")
                    state["failed"] = True
                    return
                finally:
                    # Capturing runs no kernels: restore what it recorded into.
                    for k, v in sums.items():
                        st.sums[k].copy_(v)
                state["graph"] = graph

        return step

    # --- fine-tuning a trained model (for the applications) ----------------------------------

    def fine_tune(self, first: int, last: int, iters: int, prevs: torch.Tensor, *,
                  transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  callback: Callable[[int, int], None] | None = None) -> None:
        """Train the generators of scales first..last of a trained model for `iters` iterations.

        The same iterations as training (`_step`), but the critic steps draw their inputs of
        scale `first` from `prevs` (B, 3, h, w) instead of the model's own random samples, and
        `transform` (if any) is applied to those and to the reconstruction's input. Scale `last`
        learns at lr_g, each coarser one lr_scale times slower. The critic is
        `self.discriminator` (scale `last`'s) or a fresh one. `callback(done, iters)` follows.
        """
        model, c = self.model, self.config
        keep = transform or (lambda x: x)
        for g in model.generators:
            g.eval()
            requires_grad(g, False)
        nets = {k: model.generators[k] for k in range(first, last + 1)}
        for net in nets.values():
            net.train()
            requires_grad(net, True)
        d_net = self.discriminator
        if d_net is None:
            d_net = model.new_discriminator(last).to(self.device)
            init_weights(d_net, self.gen)
        d_net.train()
        g_opt = torch.optim.Adam([{"params": list(nets[k].parameters()),
                                   "lr": c.lr_g * c.lr_scale ** (last - k)} for k in nets],
                                 lr=c.lr_g, betas=(c.beta1, c.beta2))
        d_opt = torch.optim.Adam(d_net.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        st = _Stage(n=last, lo=first, iters=iters, nets=nets,
                    amps={k: model.noise_amp[k] for k in nets}, d_net=d_net, g_opt=g_opt,
                    d_opt=d_opt, real=model.reals[last], rec_in=keep(model.reconstruct(first)),
                    rec_z={k: model.rec_noise(k) for k in nets}, crop=self._crop_size(last),
                    pool=keep(prevs), sums={k: torch.zeros((), device=self.device)
                                            for k in ("d_loss", "g_loss", "rec_loss", "gp")})
        milestone = int(round(c.lr_decay_at * iters))
        for it in range(iters):
            if it == milestone:
                for opt in (g_opt, d_opt):
                    _scale_lr(opt, c.lr_gamma)
            self._step(st, self._draw_inputs(st))
            if callback is not None:
                callback(it + 1, iters)
        for net in (*nets.values(), d_net):
            requires_grad(net, False)
            net.eval()
        self.discriminator = d_net


@dataclass
class _Stage:
    """What one scale's training works with."""

    n: int  # the scale being trained
    lo: int  # first scale that learns alongside it
    iters: int
    nets: dict[int, nn.Module]  # learning generators by scale
    amps: dict[int, torch.Tensor]  # their noise amplitudes
    d_net: Discriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    real: torch.Tensor  # training image at scale n
    rec_in: torch.Tensor  # reconstruction entering scale lo
    rec_z: dict[int, torch.Tensor]  # reconstruction noise by scale
    crop: tuple[int, int] | None  # window size at scale n, None for the whole image
    pool: torch.Tensor | None  # pre-drawn random inputs of scale lo
    sums: dict[str, torch.Tensor]  # loss sums since the last report


def _scale_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].mul_(factor)
        else:
            group["lr"] *= factor


def train(image: torch.Tensor, config: SinGANConfig, *, device: torch.device | str = "cpu",
          seed: int = 0, callback: Callback | None = None,
          on_scale_end: Callable[[Trainer], None] | None = None, log_every: int = 25,
          cuda_graphs: bool = False) -> SinGAN:
    """Train a SinGAN on a (1, 3, H, W) image in [-1, 1] (or (3, H, W)); returns it in eval mode.

    `callback` receives a `Progress` after every iteration; `on_scale_end` the trainer after each
    finished scale (the CLI saves the run there). `cuda_graphs` replays each iteration as a CUDA
    graph on a CUDA device (same results, less launch overhead); ignored on the CPU.
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    trainer = Trainer.from_image(image, config, device=device, seed=seed, log_every=log_every,
                                 cuda_graphs=cuda_graphs)
    return trainer.run(callback, on_scale_end)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_work(model: SinGAN) -> list[float]:
    """Relative cost of training each scale (pixels x width^2 x iterations), for progress bars."""
    c, crop = model.config, model.config.crop_size or 1 << 30
    return [min(h, crop) * min(w, crop) * c.channels(n) ** 2 * c.iters_at(n, model.num_scales)
            for n, (h, w) in enumerate(model.sizes)]

