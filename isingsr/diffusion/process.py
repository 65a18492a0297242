"""Forward processes that are diagonal in an orthonormal basis; SKILD's spectrum-matched blur above all.

:class:`DiagonalProcess` holds what every such process shares -- marginals,
the per-mode DDPM posterior, log-SNR and network targets -- given its
attenuation ``a_t(k)``, its spectrum ``S(k)`` and its basis; the samplers of
:mod:`isingsr.diffusion.samplers` need nothing else. :class:`SpectralProcess`
is SKILD's; :class:`WhiteProcess` is the standard white-noise
variance-preserving process of the SR3 baseline (``S = 1``, ``a_t`` the same
for every mode), so both run on the same samplers.

In an orthonormal basis (:mod:`isingsr.diffusion.spectral`) every mode k of a
field evolves independently::

    X_t(k) = a_t(k) X_0(k) + sigma_t(k) eps(k),   eps ~ N(0, 1),
    sigma_t(k)^2 = (1 - a_t(k)^2) S(k),

so ``Var X_t(k) = S(k)`` at every t when the data have spectrum S. In
whitened units ``Z = X / sqrt(S)`` each mode is a variance-preserving
diffusion with ``a^2 + s^2 = 1``, ``s = sqrt(1 - a^2)``.

Schedule ``gauss-loguniform-v1`` (parameters ``l_min``, ``l_max``, ``t_env``)::

    w(t)   = l_min (l_max / l_min)^t                       cutoff length, exactly geometric
    l(t)^2 = w(t)^2 - l_min^2 = l_min^2 expm1(2 t ln(l_max / l_min))   blur length, l(0) = 0
    e(t)   = 1 for t <= t_env,  cos^2(pi u / 2) with u = (t - t_env) / (1 - t_env) after,  e(1) = 0
    a_t(k) = exp(-(k l(t))^2 / 2) e(t)

Gaussian blurs compose by adding variances, so ``w`` is the resolution of the
state: the lattice's own ``l_min`` combined with the blur ``l(t)``. It grows
by the same factor in equal times; ``l`` does too up to a relative
``l_min^2 / (2 l^2)``. Hence ``a_0 = 1``, ``a_1 = 0`` for every mode (the zero
mode through the envelope ``e``), and ``a`` is non-increasing in t.

Scale and time (:meth:`SpectralProcess.t_start`): a block of size s has lost
detail below the blur length ``l = c sqrt(s^2 - 1)`` (c = ``blur_per_block``,
measured with :func:`isingsr.diffusion.alignment.alignment`), so
``w(t_s)^2 = l_min^2 + c^2 (s^2 - 1)``.
With the default ``c = l_min`` and ``l_max = l_min L`` this is simply
``t_s = ln s / ln L``: t is the logarithm of the scale, ``t = 1`` the system size.
A network should be conditioned on ``ln w(t)`` (:meth:`SpectralProcess.cutoff_length`),
finite at t = 0 and the same physical scale at every L.

References
----------
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic models",
NeurIPS (2020).
T. Salimans and J. Ho, "Progressive distillation for fast sampling of
diffusion models", ICLR (2022) (the v target).
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ..exceptions import InputError
from ..validate import real
from .rng import randn
from .spectral import PIXEL, Spectrum, get_basis

__all__ = ["SCHEDULES", "TARGETS", "BLUR_PER_BLOCK", "T_ENV", "A_MIN", "LOGSNR_MAX", "DiagonalProcess",
           "SpectralProcess", "WhiteProcess", "cosine_logsnr"]

#: Named schedules; a committed schedule is never changed, new ones get new names.
SCHEDULES = ("gauss-loguniform-v1",)
#: Network targets of :meth:`SpectralProcess.target`.
TARGETS = ("eps", "x0", "v")
#: Blur length per block size c (lattice units) of the shipped schedule. The alignment diagnostic
#: (:func:`isingsr.diffusion.alignment.alignment`; critical Ising, majority rule, fourier basis, L = 32 and
#: 64, scales 2, 4, 8, KL budget 0.03 nats per coarse site) asks for 0.71 .. 0.85 with the KL given x0 and
#: 0.50 .. 0.56 with the KL given the coarse input (``experiments/alignment.py``, ``docs/method.md``); 0.9
#: is a later, more cautious start. The value is part of the schedule of every checkpoint made with it.
BLUR_PER_BLOCK = 0.9
#: Start of the envelope that removes the zero mode.
T_ENV = 0.9
#: Floor of a_t in :meth:`DiagonalProcess.x0_from_eps`.
A_MIN = 1e-3


def _positive(name: str, v) -> float:
    return real(v, name, low=0, low_open=True)


class DiagonalProcess:
    """A Gaussian forward process diagonal in an orthonormal basis (no parameters to train).

    Per mode k of the basis, ``X_t(k) = a_t(k) X_0(k) + sigma_t(k) eps(k)`` with
    ``sigma_t(k)^2 = (1 - a_t(k)^2) S(k)``. A subclass sets ``L``, ``basis``
    (a :class:`~isingsr.diffusion.spectral.Basis`) and ``S`` (an ``(L, L)``
    float64 tensor) and defines :meth:`log_a`; everything else -- marginals,
    posterior, log-SNR, network targets -- follows here.

    Notes
    -----
    Fields are ``(B, 1, L, L)`` real tensors (any ``(..., L, L)`` works); a
    time is a float or a ``(B,)`` tensor in [0, 1]. Arithmetic is float64;
    outputs have the input's dtype.
    """

    L: int
    S: torch.Tensor

    def _time(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64, device=self.S.device)
        if not bool(torch.all((t >= 0) & (t <= 1))):
            bad = t[~((t >= 0) & (t <= 1))].reshape(-1)[0]
            raise InputError(f"t must lie in [0, 1], got {float(bad)}")
        return t

    def log_a(self, t) -> torch.Tensor:
        """``ln a_t(k)``, shape ``t.shape + (L, L)`` float64."""
        raise NotImplementedError

    def a(self, t) -> torch.Tensor:
        """Attenuation ``a_t(k)``, shape ``t.shape + (L, L)``."""
        return torch.exp(self.log_a(t))

    def sigma2(self, t) -> torch.Tensor:
        """Noise variance ``(1 - a_t^2) S``, shape ``t.shape + (L, L)`` (``1 - a^2`` via expm1)."""
        return -torch.expm1(2 * self.log_a(t)) * self.S

    def half_logsnr(self, t) -> torch.Tensor:
        """``lambda_t(k) = ln(a_t(k) / sigma_t(k))``, half the log signal-to-noise ratio, shape ``t.shape + (L, L)``.

        The time variable of the exponential-integrator samplers: ``-inf``
        where ``a = 0``, ``+inf`` where ``sigma = 0`` (the mode is known exactly).
        """
        la = self.log_a(t)
        return la - 0.5 * torch.log(-torch.expm1(2 * la) * self.S)

    # ----- fields ---------------------------------------------------------------------------------

    def _check(self, x, what: str) -> torch.Tensor:
        if not torch.is_tensor(x) or x.ndim < 2 or tuple(x.shape[-2:]) != (self.L, self.L):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise InputError(f"{what}: expected a tensor of shape (B, 1, {self.L}, {self.L}), got {shape}")
        if not x.dtype.is_floating_point:
            raise InputError(f"{what}: expected a real floating dtype, got {x.dtype}")
        return x

    def _t_for(self, t, x: torch.Tensor) -> torch.Tensor:
        """Time shaped so that per-mode tensors broadcast against ``x``: a number, or (B,) -> (B, 1..)."""
        t = self._time(t)
        if t.ndim == 0:
            return t
        if t.ndim != 1 or x.ndim < 3 or t.shape[0] != x.shape[0]:
            raise InputError(f"t has shape {tuple(t.shape)}; expected a number or ({x.shape[0]},) for "
                             f"fields of shape {tuple(x.shape)}")
        return t.reshape((-1,) + (1,) * (x.ndim - 3))

    def _modes(self, fn, t, *fields, names=("x",)):
        """Apply ``fn(log_a, *X)`` to the float64 coefficients of ``fields``; back to real space."""
        xs = [self._check(f, n) for f, n in zip(fields, names)]
        la = self.log_a(self._t_for(t, xs[0]))
        out = fn(la, *[self.basis.forward(f.to(torch.float64)) for f in xs])
        return self.basis.inverse(out).to(xs[0].dtype)

    def q_sample(self, x0, t, eps=None, generator=None):
        """Draw ``x_t ~ q(x_t | x_0)``: ``X_t = a X_0 + sigma eps`` per mode.

        Parameters
        ----------
        x0 : tensor, shape (B, 1, L, L)
        t : float or tensor, shape (B,)
        eps : tensor, shape (B, 1, L, L), optional
            Real-space white noise (its coefficients are white too); drawn
            with ``generator`` (see :func:`randn`) if not given.

        Returns
        -------
        x_t, eps : tensors, shape (B, 1, L, L)
            ``x_t`` equals ``x0`` exactly where t = 0.
        """
        x0 = self._check(x0, "x0")
        if eps is None:
            eps = randn(tuple(x0.shape), generator, x0.device).to(x0.dtype)
        self._check(eps, "eps")
        xt = self._modes(lambda la, X0, E: la.exp() * X0 + torch.sqrt(-torch.expm1(2 * la) * self.S) * E,
                         t, x0, eps, names=("x0", "eps"))
        at_zero = (self._t_for(t, x0) == 0)[..., None, None]
        return torch.where(at_zero, x0, xt), eps

    def posterior_coefficients(self, t, t_prev):
        """Per-mode DDPM posterior ``q(X_prev | X_t, X_0) = N(c_t X_t + c_0 X_0, v S)``.

        From the marginals and the Markov step ``X_t = alpha X_prev + sqrt(beta) z``
        with ``alpha = a_t / a_prev``, ``beta = (1 - alpha^2) S``, conditioning the
        joint Gaussian of ``(X_prev, X_t)`` given ``X_0`` gives::

            c_t = alpha (1 - a_prev^2) / (1 - a_t^2)
            c_0 = a_prev (1 - alpha^2) / (1 - a_t^2)
            v   = (1 - a_prev^2) (1 - alpha^2) / (1 - a_t^2)

        Every ``1 - a^2`` is ``-expm1(2 ln a)`` (exact near a = 1). Limits:
        ``a_prev = 0`` -> ``alpha = 0`` (the posterior is the marginal at
        ``t_prev``); ``sigma_t = 0`` (then ``a_prev = a_t = 1``: the mode is
        known exactly) -> ``c_t = 1, c_0 = v = 0``.

        Parameters
        ----------
        t, t_prev : float or tensor, shape (B,)
            ``0 <= t_prev <= t <= 1``.

        Returns
        -------
        c_t, c_0, v : tensors, shape ``t.shape + (L, L)`` float64
        """
        t, t_prev = self._time(t), self._time(t_prev)
        if not bool(torch.all(t_prev <= t)):
            raise InputError(f"posterior needs t_prev <= t, got t = {t.tolist()}, t_prev = {t_prev.tolist()}")
        la, lp = self.log_a(t), self.log_a(t_prev)
        log_alpha = torch.where(lp > -math.inf, la - lp, -math.inf)
        om_t, om_p, om_al = (-torch.expm1(2 * v) for v in (la, lp, log_alpha))
        known = om_t == 0
        den = torch.where(known, 1.0, om_t)
        c_t = torch.where(known, 1.0, torch.exp(log_alpha) * om_p / den)
        c_0 = torch.where(known, 0.0, torch.exp(lp) * om_al / den)
        v = torch.where(known, 0.0, om_p * om_al / den)
        return c_t, c_0, torch.clamp(v, min=0.0)

    def posterior(self, x_t, x0, t, t_prev):
        """Posterior mean (real space, like ``x_t``) and per-mode variance ``v S`` (broadcastable, float64)."""
        x_t = self._check(x_t, "x_t")
        c_t, c_0, v = self.posterior_coefficients(self._t_for(t, x_t), self._t_for(t_prev, x_t))
        mean = self._modes(lambda la, Xt, X0: c_t * Xt + c_0 * X0, t, x_t, x0, names=("x_t", "x0"))
        return mean, v * self.S

    # ----- network targets ----------------------------------------------------------------------

    def eps_from_x0(self, x_t, x0, t):
        """``eps = (X_t - a X_0) / sigma`` per mode (0 where sigma = 0)."""
        def f(la, Xt, X0):
            sig = torch.sqrt(-torch.expm1(2 * la) * self.S)
            return torch.where(sig > 0, (Xt - la.exp() * X0) / torch.where(sig > 0, sig, 1.0), 0.0)
        return self._modes(f, t, x_t, x0, names=("x_t", "x0"))

    def x0_from_eps(self, x_t, eps, t, a_min: float = A_MIN):
        """``X_0 = (X_t - sigma eps) / max(a, a_min)`` per mode.

        Where ``a < a_min`` the mode has almost no signal and its estimate is
        shrunk towards 0 instead of amplifying the error of ``eps`` by ``1 / a``.
        """
        return self._modes(lambda la, Xt, E: (Xt - torch.sqrt(-torch.expm1(2 * la) * self.S) * E)
                           / torch.clamp(la.exp(), min=a_min), t, x_t, eps, names=("x_t", "eps"))

    def v_from_x0_eps(self, x0, eps, t):
        """``v = a eps - s X_0 / sqrt(S)``, ``s = sqrt(1 - a^2)``: the v target in whitened units (unit variance)."""
        return self._modes(lambda la, X0, E: la.exp() * E - torch.sqrt(-torch.expm1(2 * la)) * X0 / self.S.sqrt(),
                           t, x0, eps, names=("x0", "eps"))

    def x0_from_v(self, x_t, v, t):
        """``X_0 = a X_t - s sqrt(S) v`` per mode (stable for every a)."""
        return self._modes(lambda la, Xt, V: la.exp() * Xt - torch.sqrt(-torch.expm1(2 * la) * self.S) * V,
                           t, x_t, v, names=("x_t", "v"))

    def target(self, kind: str, x0, eps, t):
        """Training target of kind ``'eps'`` (default of SKILD), ``'x0'`` or ``'v'``, shape of ``x0``."""
        if kind == "eps":
            return eps
        if kind == "x0":
            return x0
        if kind == "v":
            return self.v_from_x0_eps(x0, eps, t)
        raise InputError(f"unknown target {kind!r}; expected one of {', '.join(TARGETS)}")

    def x0_from_target(self, kind: str, pred, x_t, t):
        """The denoised field ``x0_hat`` from a network prediction of kind ``kind``."""
        if kind == "eps":
            return self.x0_from_eps(x_t, pred, t)
        if kind == "x0":
            return pred
        if kind == "v":
            return self.x0_from_v(x_t, pred, t)
        raise InputError(f"unknown target {kind!r}; expected one of {', '.join(TARGETS)}")


class SpectralProcess(DiagonalProcess):
    """The forward process, its posterior and target conversions (no parameters to train).

    Parameters
    ----------
    L : int
        Linear size of the fields.
    basis : {'fourier', 'dct'}
    spectrum : Spectrum or tensor, shape (L, L)
        Data spectrum S(k) per mode (positive).
    schedule : str
        One of :data:`SCHEDULES`.
    l_min : float
        Cutoff length at t = 0 (lattice units); default :data:`BLUR_PER_BLOCK`.
    l_max : float, optional
        Cutoff length at t = 1 (default ``l_min * L``).
    t_env : float
        Envelope start, ``0 < t_env < 1``.
    blur_per_block : float, optional
        The constant c of :meth:`t_start` (default ``l_min``).
    device : torch device, optional

    Notes
    -----
    Fields are ``(B, 1, L, L)`` real tensors (any ``(..., L, L)`` works); a
    time is a float or a ``(B,)`` tensor in [0, 1]. Arithmetic is float64;
    outputs have the input's dtype.

    Examples
    --------
    >>> p = SpectralProcess(8, "fourier", torch.ones(8, 8))
    >>> float(p.a(0.0).min()), float(p.a(1.0).max())
    (1.0, 0.0)
    >>> round(p.t_start(2.0), 12) == round(math.log(2) / math.log(8), 12)
    True
    """

    def __init__(self, L: int, basis="fourier", spectrum=None, *, schedule: str = SCHEDULES[0],
                 l_min: float = BLUR_PER_BLOCK, l_max: float | None = None, t_env: float = T_ENV,
                 blur_per_block: float | None = None, device=None):
        if isinstance(L, bool) or not isinstance(L, int) or L < 2:
            raise InputError(f"L must be an integer >= 2, got {L!r}")
        if schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
        self.L, self.schedule, self.basis = L, schedule, get_basis(basis)
        self.l_min = _positive("l_min", l_min)
        self.l_max = _positive("l_max", self.l_min * L if l_max is None else l_max)
        self.blur_per_block = _positive("blur_per_block", self.l_min if blur_per_block is None else blur_per_block)
        if not self.l_max > self.l_min:
            raise InputError(f"l_max = {l_max} must exceed l_min = {l_min}")
        self.t_env = real(t_env, "t_env", low=0, high=1, low_open=True, high_open=True)
        if isinstance(spectrum, Spectrum):
            if (spectrum.L, spectrum.basis) != (L, self.basis.name):
                raise InputError(f"spectrum is for L = {spectrum.L}, basis {spectrum.basis!r}; "
                                 f"the process has L = {L}, basis {self.basis.name!r}")
            spectrum = spectrum.per_mode
        if not torch.is_tensor(spectrum) or tuple(spectrum.shape) != (L, L):
            raise InputError(f"spectrum: expected an (L, L) = ({L}, {L}) tensor or a Spectrum")
        if not bool(torch.all(spectrum > 0)) or not bool(torch.isfinite(spectrum).all()):
            raise InputError("spectrum: every S(k) must be positive and finite (floor it)")
        self.S = spectrum.to(device=device, dtype=torch.float64)
        self.k2 = self.basis.wavenumber(L, self.S.device) ** 2
        self.log_R = math.log(self.l_max / self.l_min)

    # ----- configuration -------------------------------------------------------------------------

    def config(self) -> dict:
        """The schedule and its parameters, JSON-able (the spectrum is stored separately)."""
        return {"schedule": self.schedule, "L": self.L, "basis": self.basis.name, "l_min": self.l_min,
                "l_max": self.l_max, "t_env": self.t_env, "blur_per_block": self.blur_per_block}

    @classmethod
    def from_config(cls, cfg: dict, spectrum, device=None) -> "SpectralProcess":
        """Rebuild exactly the process whose :meth:`config` is ``cfg``."""
        kw = {k: cfg[k] for k in ("schedule", "l_min", "l_max", "t_env", "blur_per_block")}
        return cls(int(cfg["L"]), cfg["basis"], spectrum, device=device, **kw)

    def to(self, device) -> "SpectralProcess":
        """The same process with its tensors on ``device``."""
        return SpectralProcess.from_config(self.config(), self.S, device=device)

    # ----- schedule ------------------------------------------------------------------------------

    def cutoff_length(self, t) -> torch.Tensor:
        """``w(t) = l_min (l_max / l_min)^t``, exactly geometric; same shape as ``t``."""
        return self.l_min * torch.exp(self._time(t) * self.log_R)

    def blur_length(self, t) -> torch.Tensor:
        """``l(t) = l_min sqrt(expm1(2 t ln(l_max / l_min)))``, ``l(0) = 0``; same shape as ``t``."""
        return self.l_min * torch.sqrt(torch.expm1(2 * self._time(t) * self.log_R))

    def time_at_blur(self, blur) -> torch.Tensor:
        """Inverse of :meth:`blur_length`: ``t = ln(1 + (l / l_min)^2) / (2 ln(l_max / l_min))``."""
        l = torch.as_tensor(blur, dtype=torch.float64, device=self.S.device)
        return torch.log1p((l / self.l_min) ** 2) / (2 * self.log_R)

    def envelope(self, t) -> torch.Tensor:
        """``e(t)``: 1 up to ``t_env``, then ``cos^2`` down to exactly 0 at t = 1."""
        u = torch.clamp((self._time(t) - self.t_env) / (1 - self.t_env), 0, 1)
        return torch.where(u < 1, torch.cos(0.5 * math.pi * u) ** 2, 0.0)

    def log_a(self, t) -> torch.Tensor:
        """``ln a_t(k)``, shape ``t.shape + (L, L)`` float64 (``-inf`` at t = 1)."""
        t = self._time(t)
        l2 = (self.blur_length(t) ** 2)[..., None, None]
        return -0.5 * self.k2 * l2 + torch.log(self.envelope(t))[..., None, None]

    def t_start(self, scale, blur_per_block: float | None = None):
        """Time whose state has lost the detail below block size ``scale`` (float or tensor >= 1).

        ``t_s = ln(1 + (c / l_min)^2 (s^2 - 1)) / (2 ln(l_max / l_min))``, the state blurred to
        ``c sqrt(s^2 - 1)``; ``t_start(1) = 0``. With ``c = l_min`` and ``l_max = l_min L``:
        ``t_s = ln s / ln L``. ``blur_per_block``: the constant c (default: the process's).

        Raises
        ------
        InputError
            ``scale < 1`` or beyond the scale whose start is t = 1, or ``blur_per_block <= 0``.
        """
        c = self.blur_per_block if blur_per_block is None else float(blur_per_block)
        if not c > 0:
            raise InputError(f"start blur constant must be > 0, got {c}")
        s = torch.as_tensor(scale, dtype=torch.float64)
        s_max = math.sqrt(1 + (self.l_min / c) ** 2 * math.expm1(2 * self.log_R))
        if not bool(torch.all((s >= 1) & (s <= s_max * (1 + 1e-12)))):
            bad = s[~((s >= 1) & (s <= s_max * (1 + 1e-12)))].reshape(-1)[0]
            raise InputError(f"scale must lie in [1, {s_max:.6g}] for this process, got {float(bad):g}")
        r2 = (c / self.l_min) ** 2
        t = torch.clamp(torch.log1p(r2 * (s * s - 1)) / (2 * self.log_R), max=1.0)
        return float(t) if isinstance(scale, Real) else t

    def scale_at(self, t):
        """Inverse of :meth:`t_start`: ``s = sqrt(1 + (l_min / c)^2 expm1(2 t ln(l_max / l_min)))``."""
        tt = self._time(t)
        s = torch.sqrt(1 + (self.l_min / self.blur_per_block) ** 2 * torch.expm1(2 * tt * self.log_R))
        return float(s) if isinstance(t, Real) else s


#: Log-SNR ``ln(a^2 / sigma^2)`` of :class:`WhiteProcess` at t = 0 (and minus its value at t = 1).
LOGSNR_MAX = 20.0
_B = math.atan(math.exp(-LOGSNR_MAX / 2))
_A = math.atan(math.exp(LOGSNR_MAX / 2)) - _B


def cosine_logsnr(t: torch.Tensor) -> torch.Tensor:
    """Cosine log-SNR schedule ``g_t = ln(alpha^2 / sigma^2) = -2 ln tan(A t + B)``: +20 at t = 0, 0 at 1/2, -20 at 1.

    Examples
    --------
    >>> [round(float(v), 6) + 0.0 for v in cosine_logsnr(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))]
    [20.0, 0.0, -20.0]
    """
    return -2.0 * torch.log(torch.tan(_A * t + _B))


class WhiteProcess(DiagonalProcess):
    """White-noise variance-preserving diffusion with the cosine log-SNR schedule (the SR3 baseline's).

    ``x_t = alpha_t x_0 + sigma_t eps`` site by site, ``alpha_t^2 = sigmoid(g_t)``,
    ``sigma_t^2 = sigmoid(-g_t)``, ``g_t = ln(alpha^2 / sigma^2) = -2 ln tan(A t + B)``
    running from ``LOGSNR_MAX`` at t = 0 to ``-LOGSNR_MAX`` at t = 1 (Nichol and
    Dhariwal 2021). As a :class:`DiagonalProcess` it is the case ``S = 1``,
    ``a_t(k) = alpha_t`` for every mode, in the identity basis, so it runs on
    the same samplers as SKILD.

    Examples
    --------
    >>> p = WhiteProcess(4)
    >>> bool(torch.allclose(p.a(0.5) ** 2, torch.full((4, 4), 0.5, dtype=torch.float64)))
    True
    """

    def __init__(self, L: int, device=None):
        if isinstance(L, bool) or not isinstance(L, int) or L < 1:
            raise InputError(f"L must be a positive integer, got {L!r}")
        self.L, self.basis = L, PIXEL
        self.S = torch.ones(L, L, dtype=torch.float64, device=device)

    def log_a(self, t) -> torch.Tensor:
        """``ln alpha_t = ln sigmoid(g_t) / 2`` for every mode, shape ``t.shape + (L, L)``."""
        la = 0.5 * torch.nn.functional.logsigmoid(cosine_logsnr(self._time(t)))
        return la[..., None, None].expand(*la.shape, self.L, self.L)
