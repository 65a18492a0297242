"""Super-resolution that honours its input: the majority constraint imposed on the sampler's estimates.

The coarse input y of a majority-rule coarse-graining by an integer factor b
fixes, for every b x b block B, the sign of the block sum: a fine
configuration is consistent with y when at least ``k_min = ceil(b^2 / 2)`` of
its spins in B have the sign y_B (for even b, exactly half is a tie, which
the fair-coin tie rule resolves either way, so a tie never contradicts the
input; :func:`isingsr.analysis.compare.block_consistency` counts it so).

:func:`project_majority` is the Euclidean projection of a real field onto the
fields whose signs satisfy that constraint in every block: in a block where
too few sites have the right sign, the wrong-sign sites nearest to zero --
the fewest and smallest changes -- are moved to ``margin`` on the right side;
all other sites are left alone. The sampler applies it to every estimate of
x_0 (predict, project, re-noise: the DDNM / Predict-Project-Renoise idea;
the model stays unconditional and nothing is retrained) and to the final
field, so the returned spins coarse-grain to the input (``project``; the
pipeline then halves the blocks left tied, :func:`resolve_ties`); or
(``final``) to the final field only, which leaves the sampler's trajectory
alone; or (``late``, :class:`ProjectedDenoiser`) to the estimates below a
blur length of about one lattice spacing and to the final field.

Moving single sites across zero leaves defects the later steps do not heal
(docs/consistency.md). ``mean``
(:class:`MeanConstrainedDenoiser`) first holds a convex, weaker constraint
on every estimate: each block mean has the input's sign. That set contains
the conditional mean ``E[x_0 | x_t, y]`` the estimate stands for, so
projecting onto it never moves the estimate away from that mean; and the
projection is taken in the metric of the Gaussian posterior covariance
``Var(X_0 | X_t) = (1 - a_t^2) S`` per mode (:func:`project_block_means`),
so the correction goes into the modes the estimate is still unsure of
rather than into the large scales the input fixes. The count constraint
itself is then projected below the blur length ``LATE_BLUR`` and on the
output, where few blocks are still wrong. A wrong block held at zero ends
weakly magnetised; ``truncated`` moves it instead to the mean of its
Gaussian posterior truncated to the input's sign (:func:`truncated_targets`),
the conditional mean under that model, and leaves the blocks of the right
sign alone. Its inequality projection still moves those blocks' means: the
correction of a wrong block spills into its neighbours. ``held``
(:func:`hold_block_means`) moves the wrong blocks to the same targets and
holds every other block's mean exactly; ``conditioned`` moves every block's
mean to its truncated Gaussian mean, the right blocks' too (a right block
near zero is pulled up, one far from it stays), which keeps the blocks as
magnetised along the input as the truth's. ``joint`` sets every block's mean
to its mean under the Gaussian law of all block means truncated together
(:func:`joint_targets`): neighbouring blocks are correlated, and truncating
each alone pushes neighbours of opposite input apart harder than they can go.
``drawn`` is ``conditioned`` whose sampler step also draws each block mean of
its sample of x_0 from the truncated law, not from the untruncated Gaussian
(:meth:`MeanConstrainedDenoiser.condition_draw`, the ancestral sampler's ``draw``).

References
----------
Y. Wang, J. Yu and J. Zhang, "Zero-shot image restoration using denoising
diffusion null-space model", ICLR (2023) (DDNM).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..defaults import CONSISTENCY
from ..exceptions import InputError
from .denoiser import with_wiener

__all__ = ["CONSISTENCY", "MARGIN", "MEAN_MODES", "project_majority", "resolve_ties", "majority_projector",
           "ProjectedDenoiser", "project_block_means", "block_mean_variance", "truncated_targets", "joint_targets",
           "hold_block_means", "tilt_block_means", "MeanConstrainedDenoiser"]
#: Value on the right side of zero given to a site the projection moves (fields are spins of magnitude ~1).
MARGIN = 1e-3
#: The ``--consistency`` options that hold every estimate's block means (:class:`MeanConstrainedDenoiser`).
MEAN_MODES = ("mean", "truncated", "held", "conditioned", "joint", "drawn", "tilted")
#: Iteration cap and tolerance (in block-mean units) of the block-mean projection inside the sampler.
MEAN_ITERS, MEAN_TOL = 100, 1e-7
#: Largest |estimate| a site is tilted from (:func:`tilt_block_means`: its log-odds stay finite), and the
#: bisection's bracket of the tilt field and its iterations (2^-60 of the bracket: to float64 precision).
TILT_CLIP, TILT_FIELD, TILT_ITERS = 0.999, 30.0, 60
#: Cap on the damped mean-field updates of :func:`joint_targets` (30 reach 1e-5 at L = 32) and their damping.
JOINT_ITERS, JOINT_DAMPING = 100, 0.5


def project_majority(x: torch.Tensor, coarse: torch.Tensor, b: int, margin: float = MARGIN) -> torch.Tensor:
    """Euclidean projection of fields onto those whose block-sign majorities equal ``coarse``.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    b : int
        Block size; ``b`` divides L.
    margin : float
        Where a moved site lands, on the right side of 0.

    Returns
    -------
    tensor of the shape and dtype of ``x``

    Examples
    --------
    >>> x = torch.tensor([[[0.9, -0.2], [-0.5, -0.1]]], dtype=torch.float64)
    >>> project_majority(x, torch.tensor([[[1]]]), 2).tolist()  # 2 of 4 sites must be positive
    [[[0.9, -0.2], [-0.5, 0.001]]]
    """
    shape = x.shape
    y = x.reshape(shape[0], shape[-2], shape[-1])
    n, L = y.shape[0], y.shape[-1]
    if L % b or tuple(coarse.shape) != (n, L // b, L // b):
        raise InputError(f"consistency projection: fields {tuple(shape)} and coarse inputs {tuple(coarse.shape)} "
                         f"do not match blocks of {b}")
    k_min = (b * b + 1) // 2
    u = _along_input(y, coarse, b)
    order = torch.argsort(u, dim=-1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(b * b, device=u.device).expand_as(order))
    u = torch.where((rank < k_min) & (u <= 0), torch.full_like(u, margin), u)
    return _from_along_input(u, coarse, b).reshape(shape)


def _along_input(y: torch.Tensor, coarse: torch.Tensor, b: int) -> torch.Tensor:
    """Fields ``(N, L, L)`` as ``(N, L/b, L/b, b^2)``: each block's sites times the block's input spin."""
    n, L = y.shape[0], y.shape[-1]
    l = L // b
    sign = coarse.to(y.dtype).reshape(n, l, 1, l, 1)
    return (y.reshape(n, l, b, l, b) * sign).permute(0, 1, 3, 2, 4).reshape(n, l, l, b * b)


def _from_along_input(u: torch.Tensor, coarse: torch.Tensor, b: int) -> torch.Tensor:
    """The inverse of :func:`_along_input`: fields ``(N, L, L)``."""
    n, l = u.shape[0], u.shape[1]
    sign = coarse.to(u.dtype).reshape(n, l, 1, l, 1)
    return (u.reshape(n, l, l, b, b).permute(0, 1, 3, 2, 4).reshape(n, l, b, l, b) * sign).reshape(n, l * b, l * b)


def resolve_ties(x: torch.Tensor, coarse: torch.Tensor, b: int, coins: torch.Tensor,
                 margin: float = MARGIN) -> torch.Tensor:
    """Moves, in every tied block (exactly ``b^2 / 2`` spins of the input's sign) whose coin is true, the
    wrong-sign site nearest to zero to ``margin`` on the right side: the block becomes a strict majority.

    The coarse-graining gives a tied block the input's spin with probability 1/2, so given the input a
    tie is half as likely as the same block with one more spin of the input's sign would be if the rule
    were strict; a sampler that only keeps the block sums from the wrong side makes ties twice too
    often. Fair coins halve them. Spins are ``x >= 0`` as :func:`~isingsr.diffusion.pipeline.to_spins`
    takes them. Odd ``b`` (no ties): ``x`` unchanged.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    coins : bool tensor, shape (N, L/b, L/b)

    Returns
    -------
    tensor of the shape and dtype of ``x``
    """
    if (b * b) % 2:
        return x
    shape = x.shape
    y = x.reshape(shape[0], shape[-1], shape[-1])
    u = _along_input(y, coarse, b)
    right = _along_input(torch.where(y >= 0, 1.0, -1.0).to(y.dtype), coarse, b) > 0
    tied = (right.sum(-1) == b * b // 2) & coins.to(torch.bool)
    nearest = torch.where(right, torch.full_like(u, -float("inf")), u).argmax(-1, keepdim=True)
    moved = torch.zeros_like(right).scatter_(-1, nearest, True) & tied[..., None]
    return _from_along_input(torch.where(moved, torch.full_like(u, margin), u), coarse, b).reshape(shape)


def majority_projector(coarse, b: int, device=None):
    """``project(x)`` for the sampler: :func:`project_majority` onto fixed coarse inputs ``(N, l, l)``."""
    c = torch.as_tensor(np.asarray(coarse), device=device)
    if not bool(torch.all((c == 1) | (c == -1))):
        raise InputError("consistency projection: coarse inputs must be +-1 spins (majority rule)")

    def project(x: torch.Tensor) -> torch.Tensor:
        return project_majority(x, c.to(x.device), b)
    return project


class ProjectedDenoiser:
    """A denoiser whose estimates are projected at times ``t < below`` (every time by default).

    ``--consistency project`` projects every estimate, ``late`` only those below the blur length
    :data:`~isingsr.defaults.LATE_BLUR`. Wraps ``den`` (``den(x_t, t) -> x0_hat`` with a ``process``);
    every sample of a batch shares its time.
    """

    def __init__(self, den, project, below: float = float("inf")):
        self.den, self.project, self.below, self.process = den, project, float(below), den.process

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        return self._projected(self.den(x_t, t), t)

    def lift(self, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """The network's estimate ``x0`` corrected as ``__call__`` corrects it, without evaluating the network
        (the wrapped denoiser must have a ``lift``, as :class:`MeanConstrainedDenoiser` has)."""
        return self._projected(self.den.lift(x0, x_t, t), t)

    def _projected(self, x0: torch.Tensor, t) -> torch.Tensor:
        return self.project(x0) if float(torch.as_tensor(t).reshape(-1)[0]) < self.below else x0


def _block_means(x: torch.Tensor, b: int) -> torch.Tensor:
    """:func:`isingsr.coarse.block_spin` with ``rule='average'``, on tensors (the sampler's device)."""
    n, L = x.shape[0], x.shape[-1]
    return x.reshape(n, L // b, b, L // b, b).mean(dim=(2, 4))


def _fields(x: torch.Tensor, coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fields ``(N, L, L)`` or ``(N, 1, L, L)`` as float64 ``(N, L, L)``, and the input's block spins as float64."""
    return x.reshape(x.shape[0], x.shape[-1], x.shape[-1]).to(torch.float64), coarse.to(torch.float64)


def _fill(u: torch.Tensor, b: int) -> torch.Tensor:
    """:func:`isingsr.coarse.block_fill` on tensors."""
    return u.repeat_interleave(b, -1).repeat_interleave(b, -2)


def project_block_means(x: torch.Tensor, coarse: torch.Tensor, b: int, variance: torch.Tensor | None = None,
                        basis=None, margin: float | torch.Tensor = 0.0, iters: int = 100,
                        tol: float = 1e-7) -> torch.Tensor:
    """Projection of fields onto those whose block means have the input's sign, ``y_B mean_B(x) >= margin``.

    The set is convex and contains the conditional mean ``E[x_0 | x_t, y]``
    (every block sum of a consistent configuration has the sign of y_B), so
    the projection of an estimate of x_0 moves it no further from that mean.
    ``variance`` None: the Euclidean projection, which shifts every wrong
    block uniformly (exact). Otherwise the projection in the metric of the
    Gaussian posterior covariance ``Sigma = B^T diag(variance) B`` (per-mode
    ``variance`` in ``basis``): the correction ``Sigma A^T lambda`` goes into
    the modes the estimate is unsure of; the multipliers lambda >= 0 solve the
    dual problem by accelerated projected gradient (FISTA) until an iteration
    moves them by less than ``tol`` times its step (a block mean's residual of
    about ``tol``), or for ``iters`` iterations.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    b : int
    variance : tensor (L, L) or None
    basis : Basis, with ``variance``
        The fourier basis: every block is then alike, and the solver's step is taken from one.
    margin : float or tensor, shape (N, L/b, L/b)
        Lower bound of each block mean along its input spin.

    Returns
    -------
    tensor of the shape and dtype of ``x``
    """
    return _project_means(x, coarse, b, variance, basis, margin, iters, tol)[0]


def _gram_row(var: torch.Tensor, basis, b: int, L: int) -> torch.Tensor:
    """Covariances ``a_0^T Sigma a_C`` of block 0's mean with every block C's under ``Sigma = B^T diag(var) B``,
    shape (1, L/b, L/b); in the fourier basis every block's row is this one shifted."""
    e = torch.zeros(1, L, L, dtype=torch.float64, device=var.device)
    e[0, :b, :b] = 1.0 / (b * b)
    return _block_means(basis.inverse(var * basis.forward(e)), b)


def block_mean_variance(variance: torch.Tensor, basis, b: int, L: int) -> float:
    """``s^2 = a_B^T Sigma a_B``: the variance of one b x b block's mean under ``Sigma = B^T diag(variance) B``
    (per-mode ``variance`` in the fourier ``basis``, every block alike); never negative."""
    return float(_gram_row(variance.to(torch.float64), basis, b, L)[0, 0, 0].clamp(min=0.0))


def truncated_targets(x: torch.Tensor, coarse: torch.Tensor, b: int, variance: torch.Tensor, basis,
                      every_block: bool = False) -> torch.Tensor:
    """Per block, the block mean along the input that :class:`MeanConstrainedDenoiser` asks for.

    Under the Gaussian model ``x_0 ~ N(x, Sigma)`` of the posterior (``Sigma`` as in
    :func:`project_block_means`) a block's mean along its input spin is
    ``N(mu, s^2)``, ``mu = y_B mean_B(x)``, ``s^2 = a_B^T Sigma a_B``; given the
    input it is that normal truncated to positive values, whose mean is
    ``s (alpha + phi(alpha) / Phi(alpha))``, ``alpha = mu / s`` (near ``s^2 / |mu|``
    for a block far on the wrong side, ``0.80 s`` at ``alpha = 0``, ``mu`` itself far on
    the right side). That is the target of every block whose estimate has the wrong sign
    (``mu < 0``); of the others it is 0, the plain constraint (``truncated``, ``held``), or
    with ``every_block`` their truncated mean too (``conditioned``). 0 everywhere when ``s = 0``.

    Returns
    -------
    tensor, shape (N, L/b, L/b) float64
    """
    y, sign = _fields(x, coarse)
    mu = sign * _block_means(y, b)
    s = block_mean_variance(variance, basis, b, y.shape[-1]) ** 0.5
    if s == 0.0:
        return torch.zeros_like(mu)
    mean = _truncated_mean(mu, s)
    return (mean if every_block else torch.where(mu < 0, mean, torch.zeros_like(mu))).clamp(min=0.0)


def _truncated_mean(mu: torch.Tensor, s) -> torch.Tensor:
    """Mean of ``N(mu, s^2)`` truncated to positive values: ``s (alpha + phi(alpha) / Phi(alpha))``, alpha = mu / s."""
    alpha = mu / s
    return s * (alpha + torch.exp(-0.5 * alpha * alpha - 0.5 * math.log(2 * math.pi) - torch.special.log_ndtr(alpha)))


def _truncated_quantile(mu: torch.Tensor, s: float, z: torch.Tensor) -> torch.Tensor:
    """``N(mu, s^2)`` truncated to positive values at the quantile where a standard normal has ``z``.

    ``mu + s Z`` with ``Z = -Phi^-1(Phi(-z) Phi(alpha))``, ``alpha = mu / s``, in logs so that a block far on
    the wrong side (``Phi(alpha)`` below 1e-300) still lands just above 0: increasing in ``z``, above 0,
    ``mu + s z`` for ``alpha -> infinity``; with ``z ~ N(0, 1)`` a draw of the truncated law.
    """
    log_p = torch.special.log_ndtr(-z) + torch.special.log_ndtr(mu / s)
    return (mu - s * torch.special.ndtri(torch.exp(log_p.clamp(min=-700.0)))).clamp(min=0.0)


def _block_spectrum(var: torch.Tensor, basis, b: int, L: int) -> torch.Tensor:
    """Eigenvalues of the block Gram matrix ``G = A Sigma A^T`` (circulant over blocks), shape (L/b, L/b)."""
    return torch.fft.fft2(_gram_row(var, basis, b, L)[0]).real


def _pseudo_inverse(ev: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of ``G``'s pseudo-inverse: the modes of zero variance (the frozen field mean) left out."""
    keep = ev > 1e-9 * float(ev.abs().max())
    return torch.where(keep, 1.0 / torch.where(keep, ev, 1.0), 0.0)


def joint_targets(x: torch.Tensor, coarse: torch.Tensor, b: int, variance: torch.Tensor, basis,
                  iters: int = JOINT_ITERS, damping: float = JOINT_DAMPING, tol: float = MEAN_TOL) -> torch.Tensor:
    """Per block, its mean along the input under the Gaussian posterior of all block means truncated jointly.

    Under the Gaussian model ``x_0 ~ N(x, Sigma)`` the block means are ``m ~ N(mu, G)``,
    ``G = A Sigma A^T``; the input asks for ``y_B m_B > 0`` in every block at once. Neighbouring
    blocks are correlated (strongly at early times, when the scales of a block are still unsure),
    so truncating each block's marginal alone (:func:`truncated_targets`) pushes neighbours of
    opposite input apart harder than their joint law allows. The mean of the jointly truncated
    normal is taken here by mean field: each block's factor is its conditional normal given the
    others' current means, ``N(nu_B - (Lambda (nu - mu))_B / Lambda_BB, 1 / Lambda_BB)``
    (``Lambda = G^+``, circulant, so every iteration is one FFT), truncated to the input's sign;
    damped parallel updates from the independent truncation until one moves no block mean by more than
    ``tol``, or ``iters`` of them. With uncorrelated blocks
    it is :func:`truncated_targets` with ``every_block``. 0 everywhere when ``Sigma`` is 0.

    Returns
    -------
    tensor, shape (N, L/b, L/b) float64, along the input (may be below the estimate's own block mean:
    a block is pulled down by neighbours the input gives the other sign)
    """
    y, sign = _fields(x, coarse)
    L = y.shape[-1]
    mu = _block_means(y, b)
    ev = _block_spectrum(variance.to(torch.float64), basis, b, L)
    if float(ev.abs().max()) <= 0.0:
        return torch.zeros_like(mu)
    prec = _pseudo_inverse(ev)
    lam0 = float(prec.mean())  # Lambda_BB, the same for every block
    s = lam0 ** -0.5
    nu = sign * _truncated_mean(sign * mu, float(ev.mean()) ** 0.5)  # the independent truncation
    for _ in range(iters):
        centre = nu - torch.fft.ifft2(torch.fft.fft2(nu - mu) * prec).real / lam0
        new = (1 - damping) * nu + damping * sign * _truncated_mean(sign * centre, s)
        done = float((new - nu).abs().max()) <= tol
        nu = new
        if done:
            break
    return (sign * nu).clamp(min=0.0)


def hold_block_means(x: torch.Tensor, coarse: torch.Tensor, b: int, variance: torch.Tensor, basis,
                     target: torch.Tensor, lower_only: bool = True) -> torch.Tensor:
    """Raises every block's mean along the input to ``target`` where it is below, and holds every other block's.

    The least correction in the metric ``Sigma`` of :func:`project_block_means` that changes the block means
    by exactly ``delta = y_B max(target_B - mu_B, 0)`` (``mu_B = y_B mean_B(x)``): ``Sigma A^T lambda`` with
    ``G lambda = delta``, ``G = A Sigma A^T`` -- the Gaussian model's conditional mean given those block
    means. Unlike the inequality projection, a block that needs no change keeps its mean: the correction of
    a wrong block does not spill into its neighbours' means. In the fourier basis ``G`` is circulant over
    blocks, so one FFT solves it exactly; its modes of zero variance (the field's mean, which the process
    never moves) are left out (the pseudo-inverse), which shifts every block alike by the mean of ``delta``.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    b : int
    variance : tensor (L, L)
        Per-mode variance of ``Sigma`` in the fourier ``basis``.
    target : tensor, shape (N, L/b, L/b)
        Lower bound of each block mean along its input spin (:func:`truncated_targets`), or with
        ``lower_only=False`` the block mean itself (:func:`joint_targets`).

    Returns
    -------
    tensor of the shape and dtype of ``x``
    """
    y, sign = _fields(x, coarse)
    L = y.shape[-1]
    var = variance.to(torch.float64)
    delta = target - sign * _block_means(y, b)
    delta = sign * (torch.clamp(delta, min=0) if lower_only else delta)
    inv = _pseudo_inverse(_block_spectrum(var, basis, b, L))
    lam = torch.fft.ifft2(torch.fft.fft2(delta) * inv).real
    y = y + basis.inverse(var * basis.forward(_fill(lam, b) / (b * b)))
    return y.to(x.dtype).reshape(x.shape)


def tilt_block_means(x: torch.Tensor, coarse: torch.Tensor, b: int, target: torch.Tensor) -> torch.Tensor:
    """Every block's mean along the input moved to ``target`` by one field on its spins' log-odds.

    With ``c`` the estimate clipped to ``+-TILT_CLIP``, site i of block B becomes
    ``x_i + tanh(atanh(c_i) + lambda_B y_B) - c_i``, lambda_B (by bisection; the block mean rises with it) such
    that the block mean along y_B is ``target_B``. For independent spins of means c this is the least change
    in relative entropy that gives the block that mean (an exponential tilt): it moves the sites the estimate
    is unsure of (``|c_i|`` small, change ``~ lambda (1 - c_i^2)``) and leaves the sure ones nearly alone, where
    :func:`hold_block_means` shifts a block's sites by a shape that does not depend on them. Measured on Monte
    Carlo data at blurs below one site, the input's information sits on the unsure sites
    (``experiments/lift_shape.py``). A block keeps its estimate where ``target`` is its own mean; nothing
    moves outside the block.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    b : int
    target : tensor, shape (N, L/b, L/b)
        Block means along the input, as :func:`truncated_targets` gives them.

    Returns
    -------
    tensor of the shape and dtype of ``x``
    """
    y, sign = _fields(x, coarse)
    c = y.clamp(-TILT_CLIP, TILT_CLIP)
    goal = target.to(torch.float64) - sign * (_block_means(y, b) - _block_means(c, b))
    h, ys = torch.atanh(c), _fill(sign, b)
    lo, hi = torch.full_like(sign, -TILT_FIELD), torch.full_like(sign, TILT_FIELD)
    for _ in range(TILT_ITERS):
        mid = 0.5 * (lo + hi)
        above = sign * _block_means(torch.tanh(h + _fill(mid, b) * ys), b) > goal
        hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
    y = y + torch.tanh(h + _fill(0.5 * (lo + hi), b) * ys) - c
    return y.to(x.dtype).reshape(x.shape)


def _project_means(x, coarse, b, variance, basis, margin, iters, tol, lam=None):
    """:func:`project_block_means`, started from multipliers ``lam``; returns the field and the multipliers."""
    shape, dtype = x.shape, x.dtype
    y = x.reshape(shape[0], shape[-2], shape[-1]).to(torch.float64)
    n, L = y.shape[0], y.shape[-1]
    if L % b or tuple(coarse.shape) != (n, L // b, L // b):
        raise InputError(f"consistency projection: fields {tuple(shape)} and coarse inputs {tuple(coarse.shape)} "
                         f"do not match blocks of {b}")
    sign = coarse.to(torch.float64)
    if variance is None:
        y = y + _fill(torch.clamp(margin - sign * _block_means(y, b), min=0) * sign, b)
        return y.to(dtype).reshape(shape), None
    var = variance.to(torch.float64)

    def correction(lam):
        return basis.inverse(var * basis.forward(_fill(lam * sign, b) / (b * b)))
    step = 1.0 / float(_gram_row(var, basis, b, L).abs().sum())  # Gershgorin: below 1 / lambda_max(G)
    lam = torch.zeros_like(sign) if lam is None else lam
    mom, k = lam, 1.0
    for _ in range(iters):
        lam_new = torch.clamp(mom - step * (sign * _block_means(y + correction(mom), b) - margin), min=0)
        k_new = 0.5 * (1 + (1 + 4 * k * k) ** 0.5)
        mom = lam_new + (k - 1) / k_new * (lam_new - lam)
        done = float(torch.abs(lam_new - lam).max()) <= tol * step
        lam, k = lam_new, k_new
        if done:
            break
    return (y + correction(lam)).to(dtype).reshape(shape), lam


class MeanConstrainedDenoiser:
    """A denoiser whose estimates of x_0 are held to block means of the input's sign.

    Every correction is taken in the metric of the Gaussian posterior covariance at the estimate's time,
    ``process.sigma2(t)`` per mode. ``mode`` (one of :data:`MEAN_MODES`):

    * ``mean``: the projection onto block means of the input's sign (:func:`project_block_means`);
    * ``truncated``: as ``mean``, but a block whose estimate has the wrong sign is moved to the mean of its
      Gaussian posterior truncated to the input's sign (:func:`truncated_targets`) rather than to zero;
    * ``held``: the wrong blocks moved to the same targets by :func:`hold_block_means`, every other block's
      mean held where the estimate put it;
    * ``conditioned``: every block's mean moved to its truncated Gaussian mean (``every_block``), right
      blocks near zero too, by :func:`hold_block_means`;
    * ``joint``: every block's mean set to its mean under the Gaussian law of all block means truncated
      jointly to the input's signs (:func:`joint_targets`), by :func:`hold_block_means`;
    * ``drawn``: the estimate of ``conditioned``; the sampler's draw of x_0 around it is then conditioned too
      (:meth:`condition_draw`);
    * ``tilted``: the targets of ``conditioned``, reached by tilting each block's spins
      (:func:`tilt_block_means`) rather than by the Gaussian model's shape (with ``tilt_blur``, only below that
      blur length, in lattice spacings; ``conditioned``'s shape above it).

    The projections of ``mean`` and ``truncated`` start their solver from the previous call's multipliers
    (the correction changes little from one step to the next); use one instance per batch of inputs.
    At times below ``until`` the estimate is returned as the network gives it: the block means are held
    only while the sampler draws the scales of the blocks, and the last steps, which draw the shorter
    scales inside them, run free.

    ``lift_a`` > 0 (``held``, ``conditioned`` and ``tilted``): the lift is computed from the estimate with the Wiener
    one, ``a_t(k) X_t(k)``, in the modes of signal fraction ``a_t(k) < lift_a`` (where the network's
    ``x_0 = (x_t - sigma eps) / a`` multiplies its error by 1 / a) and added to the network's own estimate:
    the targets and the change they ask for come from an estimate the Gaussian model describes, the
    network's noise in those modes passes through as in the free sampler instead of being cut off on
    one side by the truncation.
    """

    def __init__(self, den, coarse, b: int, mode: str = "mean", until: float = 0.0, lift_a: float = 0.0,
                 tilt_blur: float | None = None):
        if mode not in MEAN_MODES:
            raise InputError(f"block-mean constraint: unknown mode {mode!r}; choose one of {', '.join(MEAN_MODES)}")
        self.den, self.process, self.b, self.mode, self.until = den, den.process, int(b), mode, float(until)
        self.lift_a = float(lift_a)
        self.coarse = torch.as_tensor(np.asarray(coarse), device=den.process.S.device)
        self._lam = None
        self._drawn = None  # (t, block means along the input, their targets) of the last drawn estimate
        self._tilt_below = math.inf if tilt_blur is None else float(den.process.time_at_blur(tilt_blur))

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        return self.lift(self.den(x_t, t), x_t, t)

    def lift(self, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """The network's estimate ``x0`` of ``x_0`` at the state ``x_t``, time ``t``, corrected by this mode."""
        t = float(torch.as_tensor(t).reshape(-1)[0])
        if t < self.until:
            return x0
        var = self.process.sigma2(t)
        coarse = self.coarse.to(x0.device)
        basis = self.process.basis
        if self.mode == "joint":
            return hold_block_means(x0, coarse, self.b, var, basis, joint_targets(x0, coarse, self.b, var, basis),
                                    lower_only=False)
        if self.mode in ("held", "conditioned", "drawn", "tilted"):
            ref = x0 if self.lift_a <= 0 else self._with_wiener(x0, x_t, t)
            target = truncated_targets(ref, coarse, self.b, var, basis, every_block=self.mode != "held")
            if self.mode == "drawn":
                y, sign = _fields(ref, coarse)
                self._drawn = (t, sign * _block_means(y, self.b), target)
            lifted = tilt_block_means(ref, coarse, self.b, target) if self.mode == "tilted" and t <= self._tilt_below \
                else hold_block_means(ref, coarse, self.b, var, basis, target)
            return lifted if self.lift_a <= 0 else (x0.to(torch.float64) + (lifted - ref)).to(x0.dtype)
        margin = 0.0 if self.mode == "mean" else truncated_targets(x0, coarse, self.b, var, basis)
        x0, self._lam = _project_means(x0, coarse, self.b, var, basis, margin,
                                       MEAN_ITERS, MEAN_TOL, self._lam)
        return x0

    def condition_draw(self, e: torch.Tensor, t) -> torch.Tensor:
        """The sampler's Gaussian draw ``e`` of ``x_0 - x0_hat`` with its block means drawn given the input's signs.

        ``drawn``: the last estimate (at the same time ``t``) moved every block mean to the mean of its
        Gaussian posterior ``N(mu, s^2)`` truncated to the input's sign; the draw of ``x_0`` around it must
        then have that truncated law's spread too, not the untruncated ``s^2`` of ``e`` (at ``mu = 0``
        ``(1 - 2/pi) s^2``). Each block mean of ``e`` is mapped to the truncated law through its own normal
        quantile, ``u = Phi(e_B / s)`` to the truncated quantile at ``u`` -- so the blocks keep ``e``'s rank
        correlations and a block far on the right side keeps its draw -- and the rest of ``e`` follows as the
        Gaussian model's conditional mean given the new block means (:func:`hold_block_means`). Any other mode,
        or a time at which no block mean was moved: ``e`` unchanged.
        """
        t = float(torch.as_tensor(t, dtype=torch.float64).reshape(-1)[0])
        if self._drawn is None or self._drawn[0] != t:
            return e
        _, mu, target = self._drawn
        var, basis, coarse = self.process.sigma2(t), self.process.basis, self.coarse.to(e.device)
        y, sign = _fields(e, coarse)
        s = block_mean_variance(var, basis, self.b, y.shape[-1]) ** 0.5
        if s == 0.0:
            return e
        eb = sign * _block_means(y, self.b)
        return hold_block_means(e, coarse, self.b, var, basis, _truncated_quantile(mu, s, eb / s) - target,
                                lower_only=False)

    def _with_wiener(self, x0: torch.Tensor, x_t: torch.Tensor, t: float) -> torch.Tensor:
        """``x0`` (float64) with the Wiener estimate ``a_t X_t`` in the modes where ``a_t(k) < lift_a``."""
        a = self.process.a(torch.tensor(t, dtype=torch.float64, device=x0.device))
        return with_wiener(x0, x_t, a, a < self.lift_a, self.process.basis)
