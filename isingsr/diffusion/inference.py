"""A SKILD checkpoint ready to sample: the denoiser with its process, at the training L or another.

Checkpoints describe themselves (network config, process config, spectrum,
pass-band statistics), so nothing but the file is needed; at a lattice size
other than the training one the process is carried by critical finite-size
scaling (:mod:`isingsr.diffusion.transfer`).
"""

from __future__ import annotations

import numpy as np

from ..coarse import majority_blocks
from ..defaults import GENERATION_STEPS, SAMPLER, TWIST_A, resolve_consistency, superres_steps
from ..device import precision_name
from ..exceptions import InputError
from .denoiser import Denoiser
from .pipeline import START_PROTOCOLS, generate_fields, particles_supported, superresolve_fields
from .samplers import get_sampler
from .smc import SMCStats
from .spectral import Spectrum
from .transfer import check_transferable, process_at
from .unet import UNet, UNetConfig
from .zero_mode import EmpiricalZeroMode, ZeroModePrior

__all__ = ["build_from_checkpoint", "SkildSuperResolver"]


def build_from_checkpoint(ck: dict, device="cpu", use_ema: bool = True, L: int | None = None,
                          zero_mode: bool = True, bf16: bool = False) -> Denoiser:
    """The denoiser stored in a checkpoint (EMA weights by default), ready to sample.

    ``L``: run at this lattice size instead of the training size (critical
    checkpoints only; :mod:`isingsr.diffusion.transfer`). ``zero_mode``: in
    the envelope (t > t_env) take the zero mode's estimate from the training
    data's magnetisation histogram (or, for images, its mean colours) when the checkpoint stores one
    (:mod:`isingsr.diffusion.zero_mode`); False: the network's alone. ``bf16``: run the network under
    bf16 autocast (faster, biased; :func:`isingsr.device.use_bf16`).
    """
    if ck.get("kind", "skild") != "skild":
        raise InputError(f"this is a {ck['kind']} checkpoint, not SKILD; it super-resolves at its own scale only")
    L = int(ck["process"]["L"]) if L is None else int(L)
    check_transferable(ck, L)
    process = process_at(ck["process"], Spectrum.from_state_dict(ck["spectrum"]), L, device=device)
    net = UNet(UNetConfig.from_dict(ck["unet"]))
    if not use_ema and "model" not in ck:
        raise InputError("this (slim) checkpoint holds only the EMA weights")
    net.load_state_dict(ck["ema" if use_ema else "model"])
    net.for_inference(device)
    prior = None
    if zero_mode and "zero_mode_samples" in ck:
        prior = EmpiricalZeroMode(ck["zero_mode_samples"])
    elif zero_mode and "zero_mode" in ck:
        spectrum = Spectrum.from_state_dict(ck["spectrum"])
        trained = process_at(ck["process"], spectrum, int(ck["process"]["L"]), device=device)
        prior = ZeroModePrior.for_process(ck["zero_mode"], trained, process)
    return Denoiser(net, process, target=ck["config"]["target"], autocast=bool(bf16), zero_mode=prior)


#: Options that only super-resolution has, at the values that leave generation as it is.
SUPERRES_ONLY = {"start": "conditional", "consistency": "none", "restart_blur": None, "release_blur": None,
                 "lift_a": 0.0, "tilt_blur": None, "particles": 1, "twist_a": TWIST_A}


class SkildSuperResolver:
    """A SKILD checkpoint as a super-resolver (:mod:`isingsr.superres`): one network, any real scale.

    Parameters
    ----------
    den : Denoiser
        From :func:`build_from_checkpoint` at the fine lattice size it is to produce.
    ck : dict
        The checkpoint (pass-band statistics of the start states).
    start : {'conditional', 'coarse', 'forward'}
        Start protocol (:mod:`isingsr.diffusion.starts`); ``forward`` needs ``fine``.
    steps, sampler, variance, grid, t_start, consistency, start_blur, restart_blur, release_blur, lift_a, tilt_blur,
    particles, twist_a :
        As for :func:`~isingsr.diffusion.pipeline.superresolve_fields`; besides, ``consistency='auto'``,
        ``particles=None`` and ``lift_a=None`` take the defaults of the command line, resolved by scale at each
        call (:func:`~isingsr.defaults.resolve_consistency`: ``conditioned`` with 4 weighted particles where the
        input has block majorities to keep, the scale is 4 or more and the input has at most 64 blocks, the free
        sampler elsewhere). ``lift_a`` None (the default) is the command line's too: the Wiener-filtered lift
        wherever K > 1 particles weigh a block-mean lift, the pairing measured to work, and the network's own
        estimate otherwise.
    fine : ndarray (N, L, L), optional
        The true fine configurations, for the ``forward`` protocol only.
    checkpoint : str, optional
        Where ``ck`` came from (provenance).
    """

    method = "skild"
    scale = None  # any real scale

    def __init__(self, den: Denoiser, ck: dict, *, start: str = "conditional", steps: int | None = None,
                 sampler: str = SAMPLER, variance=None, grid: dict | None = None, t_start: float | None = None,
                 consistency: str = "none", start_blur: float | None = None,
                 restart_blur: float | None = None, release_blur: float | None = None, lift_a: float | None = None,
                 tilt_blur: float | None = None, particles: int | None = 1, twist_a: float = TWIST_A, fine=None,
                 checkpoint: str | None = None):
        if start not in START_PROTOCOLS:
            raise InputError(f"unknown start protocol {start!r}; choose one of {', '.join(START_PROTOCOLS)}")
        get_sampler(sampler)
        self.den, self.ck, self.L = den, ck, den.process.L
        self.options = dict(start=start, steps=None if steps is None else int(steps), sampler=sampler,
                            variance=variance, grid=grid,
                            t_start=t_start, consistency=consistency, start_blur=start_blur,
                            restart_blur=restart_blur, release_blur=release_blur,
                            lift_a=None if lift_a is None else float(lift_a), tilt_blur=tilt_blur,
                            particles=None if particles is None else int(particles), twist_a=float(twist_a))
        #: The options of the last call with ``auto`` / None resolved (:func:`~isingsr.defaults.resolve_consistency`).
        self.resolved = None
        #: What the particle filter did over every call (``particles`` > 1; :class:`~isingsr.diffusion.smc.SMCStats`).
        self.smc_stats = SMCStats()
        self.fine, self.checkpoint, self.t_start_used, self.steps_used = fine, checkpoint, None, steps

    @property
    def resumable(self) -> bool:
        """Whether a run may be split into pieces (:func:`isingsr.superres.superresolve_to_file`): not with ``fine``,
        which is indexed from the first input of each call."""
        return self.fine is None

    def provenance(self) -> dict:
        """Checkpoint, schedule, start protocol and sampler of the output (HDF5 attributes); the options that
        resolve by scale (``consistency`` ``auto``, ``particles`` and ``lift_a`` None) only once one has run."""
        ck = self.ck
        o = self.resolved or {k: (None if v == "auto" else v) for k, v in self.options.items()}
        out = {"method": "skild", "protocol": o["start"], "sampler": o["sampler"], "steps": self.steps_used,
               "checkpoint": self.checkpoint, "checkpoint_step": int(ck["step"]), "basis": ck["process"]["basis"],
               "schedule": ck["process"]["schedule"], "trained_L": int(ck["process"]["L"]),
               "beta_source": ck["data"].get("beta"), "training_data": ck["data"].get("path"),
               "t_start": self.t_start_used, "variance": None if o["variance"] is None else str(o["variance"]),
               "zero_mode": "training histogram" if self.den.zero_mode is not None else "network",
               "consistency": o["consistency"], "precision": precision_name(self.den.autocast),
               "start_blur": o["start_blur"], "restart_blur": o["restart_blur"],
               "release_blur": o["release_blur"], "lift_a": o["lift_a"] or None, "tilt_blur": o["tilt_blur"]}
        if (o["particles"] or 1) > 1:
            st = self.smc_stats
            # diagnostics of the configurations this process sampled (a resumed run: those since it resumed)
            out.update(particles=o["particles"], twist_a=o["twist_a"], smc_configs=len(st.final_ess),
                       smc_no_consistent=st.no_consistent,
                       smc_final_ess=float(np.mean(st.final_ess)) if st.final_ess else None)
        out.update({f"grid_{k}": v for k, v in (o["grid"] or {}).items()})
        return {k: v for k, v in out.items() if v is not None}

    def generate(self, n: int, *, seed: int = 0, batch: int | None = None, progress=None) -> np.ndarray:
        """Unconditional samples from t = 1 with the same network: fields ``(n, L, L)`` float32."""
        o = self.options
        consistency, particles, lift_a = resolve_consistency(o["consistency"], o["particles"], o["lift_a"],
                                                             scale=1.0, block=False, blocks=0, smc_ok=False)
        o = dict(o, consistency=consistency, particles=particles, lift_a=lift_a)
        if self.fine is not None or any(o[k] != v for k, v in SUPERRES_ONLY.items()):
            raise InputError("generation has no start protocol and no input to be consistent with")
        self.steps_used = GENERATION_STEPS if self.options["steps"] is None else self.options["steps"]
        return generate_fields(self.den, n, steps=self.steps_used, sampler=self.options["sampler"], seed=seed,
                               batch=batch, progress=progress)

    def superresolve(self, coarse, scale: float, *, seed: int = 0, batch: int | None = None, progress=None,
                     rule: str = "majority") -> np.ndarray:
        """Fields ``(N, L, L)`` float32 (sign gives spins); sample i seeded ``seed + i``."""
        fine = None if self.fine is None else np.asarray(self.fine)[: len(coarse)]
        o = self.options
        # block majorities to keep: spins coarse-grained by the majority rule at an integer scale, and a checkpoint
        # whose basis treats every block alike (what the block-mean options need)
        block = majority_blocks(rule, self.L, scale) and self.den.process.basis.name == "fourier" \
            and bool(np.all(np.abs(np.asarray(coarse)) == 1))
        consistency, particles, lift_a = resolve_consistency(
            o["consistency"], o["particles"], o["lift_a"], scale=scale, block=block,
            blocks=int(np.asarray(coarse).shape[-1]) ** 2,
            smc_ok=particles_supported(o["sampler"], o["variance"], o["restart_blur"]))
        self.steps_used = superres_steps(scale) if o["steps"] is None else o["steps"]
        options = self.resolved = dict(o, steps=self.steps_used, consistency=consistency, particles=particles,
                                       lift_a=lift_a)
        fields, self.t_start_used = superresolve_fields(self.den, self.ck, coarse, scale, fine=fine, seed=seed,
                                                        batch=batch, rule=rule, progress=progress,
                                                        smc_stats=self.smc_stats, **options)
        return fields
