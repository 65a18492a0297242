"""The exact posterior p(fine | coarse) of the majority block-spin rule, by constrained Monte Carlo.

A fine configuration sigma of the L x L periodic square lattice (J = 1,
H = -sum_<ij> s_i s_j, inverse temperature beta) is coarse-grained by the
majority rule with block size b (:func:`isingsr.coarse.block_spin`):
c_B = sign(sum_{i in B} s_i), a tied block (sum 0, only for even b) getting
c_B = +-1 by a fair coin. The conditional distribution of the fine
configuration given the coarse one is therefore

    pi(sigma | c)  ~  exp(-beta H(sigma)) prod_B w_B(sigma),
    w_B = 1 if sign(sum_B) = c_B,  1/2 if sum_B = 0,  0 otherwise.

The factor 1/2 of a tied block is the coin's probability; leaving it out
would over-weight ties by 2 per tied block.

:func:`constrained_sample` draws from pi by single-spin Metropolis in
*checkerboard sequential* order (one sweep visits the sites with x + y even,
row-major, then those with x + y odd; L^2 proposals). A proposal is accepted
with probability min(1, exp(-beta dE) w'/w), where only the flipped spin's
block weight changes; the acceptance probabilities for the 5 values of dE
and the 4 ratios w'/w in {0, 1/2, 1, 2} are tabulated once as 53-bit integer
thresholds. Every chain starts from :func:`isingsr.coarse.block_fill`
(weight 1). Input i has its own xoshiro256** stream seeded by
``numpy.random.SeedSequence([seed, i])`` (i counted from ``index_offset``),
so its samples depend only on (seed, i, coarse[i], parameters) -- never on
the batch or on ``workers``.

:func:`exact_posterior` enumerates pi for L^2 <= 20 (validation).
:func:`isingsr.analysis.conditional.conditional_moments` summarises samples
per input, to judge other super-resolution methods against this ground truth.

Defaults
--------
Integrated autocorrelation times of the constrained chain, in sweeps, at
beta_c for coarse inputs ``block_spin(c, b, seed=1)`` of the 20 critical
configurations ``c = sample_configurations(L, 20, seed=1)``; one chain per
input, 20 000 recorded sweeps after 2 000 of burn-in (L = 64: 4 000 after
500), each chain centred on its own mean, autocovariances pooled::

    L    b    tau_int(E)      tau_int(m)   (m: fine magnetisation per site)
    32   2    0.68 +- 0.01    0.57 +- 0.00
    32   4    1.34 +- 0.01    1.45 +- 0.01
    32   8    2.93 +- 0.04    4.43 +- 0.07
    64   8    2.85 +- 0.09    4.55 +- 0.17
    64   16   7.08 +- 0.33   15.3  +- 1.0

The chain is local inside each block (the coarse spins pin the long
wavelengths), so tau depends on b, roughly tau ~ b, and not on L. The mean
energy from the block-filled start is within its statistical error
(20 chains) after 10 sweeps for b <= 8. Reproduce with
``python experiments/posterior_tau.py`` (L = 32, b = 2, 4, 8; about 15 s on
one core) and ``python experiments/posterior_tau.py --L 64 --blocks 8,16
--sweeps 4000 --burn 500``.

The defaults cover the worst of b = 2, 4, 8 for both observables:
``DEFAULT_SWEEPS_BETWEEN = 10`` >= 2 tau_int(m) = 8.9 (and 3.4 tau_int(E))
and ``DEFAULT_THERM_SWEEPS = 100`` >= 20 tau_int(m) = 89 (34 tau_int(E)).
For b = 16 pass about ``sweeps_between=32, therm_sweeps=320``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from ..analysis.errors import integrated_autocorrelation_time
from ..coarse import block_fill
from ..constants import BETA_C
from ..exceptions import InputError
from ..validate import integer, real
from .wolff import _xoshiro, default_workers, neighbour_table

__all__ = [
    "constrained_sample",
    "exact_posterior",
    "posterior_autocorrelation",
    "posterior_trace",
    "acceptance_thresholds",
    "DEFAULT_THERM_SWEEPS",
    "DEFAULT_SWEEPS_BETWEEN",
    "EXACT_MAX_SITES",
]

#: Sweeps from the block-filled start before the first sample (>= 20 tau_int, see module docstring).
DEFAULT_THERM_SWEEPS = 100
#: Sweeps between successive samples of one input (>= 2 tau_int, see module docstring).
DEFAULT_SWEEPS_BETWEEN = 10
#: :func:`exact_posterior` enumerates at most 2^EXACT_MAX_SITES configurations.
EXACT_MAX_SITES = 20

_U64 = np.uint64
_ONE = _U64(1 << 53)  # threshold meaning "accept without a draw" (p >= 1)
_CHUNK = 8  # inputs per thread task (progress granularity; results do not depend on it)


# --------------------------------------------------------------------------- kernels
@nb.njit(inline="always")
def _wcode(S, c):  # pragma: no cover - numba
    """Twice the block weight: 2 if sign(S) = c, 1 if S = 0, 0 otherwise."""
    if S == 0:
        return 1
    if S * c > 0:
        return 2
    return 0


@nb.njit(cache=True, nogil=True)
def _chain(spins, cblk, nbr, order, block, thr, rng, n_therm, between, out, trace):  # pragma: no cover - numba
    """Run one constrained chain in place.

    ``n_therm`` sweeps, then ``out[0] = spins``; for k >= 1, ``between`` more
    sweeps and ``out[k] = spins``. If ``out`` is empty only the ``n_therm``
    sweeps run. ``trace[t]`` (if there is room) receives (energy, magnetisation)
    per site after sweep t + 1. ``spins`` (flat, valid for ``cblk``) and ``rng``
    are updated in place.
    """
    n_sites = spins.shape[0]
    nb_ = cblk.shape[0]
    bsum = np.zeros(nb_, dtype=np.int64)
    e = np.int64(0)
    m = np.int64(0)
    for i in range(n_sites):
        si = np.int64(spins[i])
        bsum[block[i]] += si
        m += si
        e -= si * (np.int64(spins[nbr[i, 0]]) + np.int64(spins[nbr[i, 1]]))
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    inv_n = 1.0 / n_sites
    n_trace = trace.shape[0]
    t = 0
    n_out = out.shape[0]
    for k in range(max(n_out, 1)):
        n_sweeps = n_therm if k == 0 else between
        for _ in range(n_sweeps):
            for q in range(n_sites):
                i = order[q]
                si = np.int64(spins[i])
                h = (np.int64(spins[nbr[i, 0]]) + np.int64(spins[nbr[i, 1]])
                     + np.int64(spins[nbr[i, 2]]) + np.int64(spins[nbr[i, 3]]))
                bi = block[i]
                S = bsum[bi]
                c = np.int64(cblk[bi])
                th = thr[(si * h) // 2 + 2, _wcode(S, c), _wcode(S - 2 * si, c)]
                if th == 0:
                    continue
                if th < _ONE:
                    r, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    if (r >> _U64(11)) >= th:
                        continue
                spins[i] = -spins[i]
                bsum[bi] = S - 2 * si
                e += 2 * si * h
                m -= 2 * si
            if t < n_trace:
                trace[t, 0] = e * inv_n
                trace[t, 1] = m * inv_n
                t += 1
        if n_out > 0:
            for i in range(n_sites):
                out[k, i] = spins[i]
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3


# --------------------------------------------------------------------------- helpers
def acceptance_thresholds(beta: float) -> np.ndarray:
    """Metropolis acceptance of a constrained flip as 53-bit integer thresholds.

    Parameters
    ----------
    beta : float
        Inverse temperature (J = 1).

    Returns
    -------
    ndarray, shape (5, 3, 3), uint64
        ``thr[k, wo, wn]`` for dE = 4 (k - 2) and block weights wo / 2, wn / 2
        before and after the flip: ``min(1, exp(-beta dE) wn / wo) * 2^53``
        (truncated), with 2^53 meaning "always" and 0 "never" (both without
        a random draw). ``wo = 0`` never occurs (the chain stays valid).

    Examples
    --------
    >>> t = acceptance_thresholds(0.4)
    >>> int(t[2, 2, 2]) == 2**53, int(t[2, 2, 0]), int(t[2, 2, 1]) == 2**52
    (True, 0, True)
    """
    thr = np.zeros((5, 3, 3), dtype=np.uint64)
    for k in range(5):
        boltz = math.exp(-beta * 4.0 * (k - 2))
        for wo in (1, 2):
            for wn in (0, 1, 2):
                p = min(1.0, boltz * wn / wo)
                thr[k, wo, wn] = _ONE if p >= 1.0 else _U64(min(int(p * 2.0**53), 2**53))
    return thr


def _checkerboard_order(L: int) -> np.ndarray:
    """Sites with x + y even (row-major), then those with x + y odd."""
    y, x = np.indices((L, L))
    parity = ((x + y) % 2).ravel()
    return np.concatenate([np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)]).astype(np.int32)


def _block_index(L: int, b: int) -> np.ndarray:
    """Row-major index of the b x b block of each site (row-major sites)."""
    y, x = np.indices((L, L))
    return ((y // b) * (L // b) + x // b).ravel().astype(np.int32)


def _check_int(value, name: str, minimum: int) -> int:
    return integer(value, name, minimum)


def _check_beta(beta) -> float:
    return real(beta, "beta", low=0, low_open=True)


def _check_coarse(coarse, b) -> tuple[np.ndarray, bool, int]:
    """``(N, l, l)`` int8 copy of +-1 coarse spins, whether the input was single, and b."""
    b = _check_int(b, "block size b", 1)
    c = np.asarray(coarse)
    if c.ndim not in (2, 3):
        raise InputError(f"coarse: expected shape (l, l) or (N, l, l), got {c.shape} (ndim {c.ndim})")
    if c.shape[-1] != c.shape[-2]:
        raise InputError(f"coarse: lattice must be square, got {c.shape[-2]} x {c.shape[-1]}")
    if c.size == 0:
        raise InputError(f"coarse: empty input, shape {c.shape}")
    if not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)) or c.dtype == np.bool_:
        raise InputError(f"coarse: expected +-1 integer spins, got dtype {c.dtype}")
    bad = int(np.count_nonzero((c != 1) & (c != -1)))
    if bad:
        raise InputError(f"coarse: spins must be +1 or -1, found {bad} other value(s)")
    single = c.ndim == 2
    c = np.ascontiguousarray((c[None] if single else c).astype(np.int8))
    return c, single, b


def _check_init(init, c: np.ndarray, b: int) -> np.ndarray:
    """Start configurations ``(N, L, L)`` of +-1 spins that the coarse inputs allow (every block weight > 0)."""
    s = np.asarray(init)
    n, l, _ = c.shape
    if s.shape != (n, b * l, b * l):
        raise InputError(f"init: expected shape {(n, b * l, b * l)}, got {s.shape}")
    if not np.all((s == 1) | (s == -1)):
        raise InputError("init: spins must be +1 or -1")
    sums = s.astype(np.int64).reshape(n, l, b, l, b).sum((2, 4))
    bad = int(np.count_nonzero(sums * c < 0))
    if bad:
        raise InputError(f"init: {bad} block(s) have the majority opposite to their coarse spin (weight 0); "
                         "start from configurations consistent with the input")
    return s.astype(np.int8)


def _seed_states(seed: int, first: int, n: int) -> np.ndarray:
    """xoshiro256** states of inputs first .. first + n - 1: SeedSequence([seed, i])."""
    states = np.stack([np.random.SeedSequence([seed, first + i]).generate_state(4, dtype=np.uint64)
                       for i in range(n)])
    states[np.all(states == 0, axis=1), 0] = 1  # the all-zero state is forbidden
    return states


def _run(c: np.ndarray, b: int, beta: float, n_samples: int, therm: int, between: int, seed: int,
         index_offset: int, workers: int | None, progress, trace_len: int = 0, init=None):
    """Shared driver: flat samples (N, n_samples, L^2) and traces (N, trace_len, 2)."""
    n, l, _ = c.shape
    L = b * l
    n_sites = L * L
    workers = default_workers() if workers is None else _check_int(workers, "workers", 1)
    nbr = neighbour_table(L)
    order = _checkerboard_order(L)
    block = _block_index(L, b)
    thr = acceptance_thresholds(beta)
    start = block_fill(c, b) if init is None else _check_init(init, c, b)
    spins = np.ascontiguousarray(start.reshape(n, n_sites))
    cblk = c.reshape(n, l * l)
    rng = _seed_states(seed, index_offset, n)
    out = np.empty((n, n_samples, n_sites), dtype=np.int8)
    trace = np.empty((n, trace_len, 2), dtype=np.float64)

    def work(lo: int) -> int:
        hi = min(n, lo + _CHUNK)
        for i in range(lo, hi):
            _chain(spins[i], cblk[i], nbr, order, block, thr, rng[i], np.int64(therm), np.int64(between),
                   out[i], trace[i])
        return hi - lo

    starts = range(0, n, _CHUNK)
    done = 0
    if workers == 1 or n <= _CHUNK:
        for lo in starts:
            done += work(lo)
            if progress is not None:
                progress(done, n)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for k in pool.map(work, starts):
                done += k
                if progress is not None:
                    progress(done, n)
    return out, trace


# --------------------------------------------------------------------------- public API
def constrained_sample(coarse: np.ndarray, b: int, *, beta: float = BETA_C, n_samples: int = 1,
                       therm_sweeps: int = DEFAULT_THERM_SWEEPS, sweeps_between: int = DEFAULT_SWEEPS_BETWEEN,
                       seed: int = 0, workers: int | None = None, progress=None,
                       index_offset: int = 0, init=None) -> np.ndarray:
    """Fine configurations drawn from the exact posterior p(fine | coarse) of the majority rule.

    Parameters
    ----------
    coarse : ndarray, shape (N, l, l) or (l, l), +-1 integers
        Coarse configurations (e.g. from :func:`isingsr.coarse.block_spin`).
    b : int
        Block size (>= 1); the fine lattice is L x L with L = b l.
    beta : float
        Inverse temperature (> 0), default beta_c.
    n_samples : int
        Samples per input (>= 1).
    therm_sweeps : int
        Sweeps (L^2 proposals each) from the block-filled start to the first
        sample (>= 0).
    sweeps_between : int
        Sweeps between successive samples of one input (>= 0; 0 repeats the sample).
    seed : int
        Master seed (>= 0); input i uses the stream ``SeedSequence([seed, index_offset + i])``.
    workers : int, optional
        Threads (default: all cores). Results do not depend on it.
    progress : callable, optional
        ``progress(done, total)`` called with the number of inputs finished.
    index_offset : int
        Global index of ``coarse[0]``: processing a data set in pieces with
        the right offsets gives the same samples as one call on all of it.
    init : ndarray, shape (N, L, L), optional
        Start configurations instead of the block fill, e.g. a super-resolver's
        output, which must be consistent with ``coarse`` (no block majority
        opposite to its coarse spin). With few ``therm_sweeps`` this measures how
        far from the posterior the start is (the "exact polish").

    Returns
    -------
    ndarray, shape (N, n_samples, L, L), int8
        Always 4-d (N = 1 for a single (l, l) input).

    Raises
    ------
    InputError
        Bad shape or values of ``coarse``, ``b`` not a positive integer, bad
        ``beta``, ``n_samples``, sweeps, ``seed`` or ``workers``.

    Examples
    --------
    >>> c = np.array([[1, -1], [-1, 1]], dtype=np.int8)
    >>> s = constrained_sample(c, 3, n_samples=2, therm_sweeps=10, sweeps_between=5, workers=1)
    >>> s.shape
    (1, 2, 6, 6)
    >>> from isingsr.coarse import block_spin
    >>> bool(np.all(block_spin(s[0], 3) == c))  # odd b: no ties, the majority is always c
    True
    """
    c, _, b = _check_coarse(coarse, b)
    beta = _check_beta(beta)
    n_samples = _check_int(n_samples, "n_samples", 1)
    therm = _check_int(therm_sweeps, "therm_sweeps", 0)
    between = _check_int(sweeps_between, "sweeps_between", 0)
    seed = _check_int(seed, "seed", 0)
    index_offset = _check_int(index_offset, "index_offset", 0)
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be callable or None, got {progress!r}")
    out, _ = _run(c, b, beta, n_samples, therm, between, seed, index_offset, workers, progress, init=init)
    L = b * c.shape[-1]
    return out.reshape(c.shape[0], n_samples, L, L)


def posterior_trace(coarse: np.ndarray, b: int, *, beta: float = BETA_C, sweeps: int = 1_000, seed: int = 0,
                    workers: int | None = None, index_offset: int = 0) -> np.ndarray:
    """Energy and magnetisation per site after every sweep of the constrained chains, from the start.

    The chains are those of :func:`constrained_sample` with the same ``seed``
    and ``index_offset`` (same start, same streams), run for ``sweeps``
    sweeps; use it to see the relaxation from the block-filled start and to
    measure autocorrelation times.

    Parameters
    ----------
    coarse : ndarray, shape (N, l, l) or (l, l), +-1 integers
    b : int
        Block size.
    beta : float
        Inverse temperature.
    sweeps : int
        Sweeps per chain (>= 1).
    seed, workers, index_offset
        As in :func:`constrained_sample`.

    Returns
    -------
    ndarray, shape (N, sweeps, 2), float64
        ``[..., t, 0]`` energy and ``[..., t, 1]`` magnetisation per site after sweep t + 1.

    Examples
    --------
    >>> tr = posterior_trace(np.ones((2, 2), dtype=np.int8), 2, sweeps=3, workers=1)
    >>> tr.shape, bool(np.all(tr[0, :, 1] > 0))  # every block keeps a non-negative sum
    ((1, 3, 2), True)
    """
    c, _, b = _check_coarse(coarse, b)
    beta = _check_beta(beta)
    sweeps = _check_int(sweeps, "sweeps", 1)
    seed = _check_int(seed, "seed", 0)
    index_offset = _check_int(index_offset, "index_offset", 0)
    # no samples kept: the chains run their "thermalisation" of `sweeps` sweeps and record the trace
    _, trace = _run(c, b, beta, 0, sweeps, 0, seed, index_offset, workers, None, trace_len=sweeps)
    return trace


def posterior_autocorrelation(coarse: np.ndarray, b: int, *, beta: float = BETA_C, sweeps: int = 10_000,
                              burn_in: int = 1_000, seed: int = 0, workers: int | None = None,
                              observable: str = "energy") -> tuple[float, float, int]:
    """Integrated autocorrelation time, in sweeps, of the constrained chain.

    One chain per coarse input runs ``burn_in`` sweeps from the block-filled
    start, then ``sweeps`` more with the observable recorded after each
    (:func:`posterior_trace`); each chain's series is centred on its own mean
    (the inputs have different conditional means) and the autocovariances are
    pooled over chains (:func:`isingsr.analysis.errors.integrated_autocorrelation_time`,
    Sokal's window).

    Parameters
    ----------
    coarse : ndarray, shape (N, l, l) or (l, l), +-1 integers
    b : int
        Block size.
    beta : float
        Inverse temperature.
    sweeps : int
        Recorded sweeps per chain (>= 4).
    burn_in : int
        Discarded sweeps per chain (>= 0).
    seed : int
        Master seed (streams as in :func:`constrained_sample`).
    workers : int, optional
        Threads.
    observable : {'energy', 'magnetization'}
        Energy per site, or magnetisation per site of the fine configuration.

    Returns
    -------
    tau, tau_err, window : float, float, int
        In sweeps; tau = 1/2 for independent sweeps.

    Examples
    --------
    >>> tau, err, w = posterior_autocorrelation(np.ones((2, 2), dtype=np.int8), 2, sweeps=400, burn_in=20, workers=1)
    >>> 0.5 <= tau < 5
    True
    """
    if observable not in ("energy", "magnetization"):
        raise InputError(f"observable must be 'energy' or 'magnetization', got {observable!r}")
    sweeps = _check_int(sweeps, "sweeps", 4)
    burn_in = _check_int(burn_in, "burn_in", 0)
    trace = posterior_trace(coarse, b, beta=beta, sweeps=burn_in + sweeps, seed=seed, workers=workers)
    x = trace[:, burn_in:, 0 if observable == "energy" else 1]
    x = x - x.mean(axis=1, keepdims=True)
    return integrated_autocorrelation_time(x)


def exact_posterior(coarse: np.ndarray, b: int, beta: float = BETA_C) -> tuple[np.ndarray, np.ndarray]:
    """The posterior p(fine | coarse) by enumeration of all 2^(L^2) fine configurations.

    The energy uses the same bonds as the sampler (each site's +x and +y
    neighbours of :func:`isingsr.mc.wolff.neighbour_table`), so on small tori
    (L = 2, 3) it is the same Hamiltonian too.

    Parameters
    ----------
    coarse : ndarray, shape (l, l), +-1 integers
    b : int
        Block size; L = b l with L^2 <= 20 (``EXACT_MAX_SITES``).
    beta : float
        Inverse temperature.

    Returns
    -------
    configs : ndarray, shape (M, L, L), int8
        Every fine configuration of non-zero posterior weight, in order of
        the integer whose bit k is (s_k + 1)/2 for row-major site k.
    probs : ndarray, shape (M,), float64
        Their probabilities (sum to 1).

    Examples
    --------
    >>> configs, probs = exact_posterior(np.array([[1]], dtype=np.int8), 2)
    >>> len(configs), round(float(probs.sum()), 12)  # 2x2: sum 4, 2 (4 ways) or 0 (6 ways, weight 1/2)
    (11, 1.0)
    """
    c, single, b = _check_coarse(coarse, b)
    if not single:
        raise InputError(f"exact_posterior takes one coarse configuration (l, l), got shape {np.shape(coarse)}")
    beta = _check_beta(beta)
    l = c.shape[-1]
    L = b * l
    n = L * L
    if n > EXACT_MAX_SITES:
        raise InputError(f"exact_posterior enumerates 2^(L^2) states: L = {L} (L^2 = {n}) exceeds L^2 <= "
                         f"{EXACT_MAX_SITES}")
    states = np.arange(1 << n, dtype=np.int64)
    s = (((states[:, None] >> np.arange(n)) & 1) * 2 - 1).astype(np.int8)
    nbr = neighbour_table(L)
    e = -np.sum(s.astype(np.int64) * (s[:, nbr[:, 0]] + s[:, nbr[:, 1]]), axis=1)
    sums = s.reshape(-1, l, b, l, b).sum(axis=(2, 4), dtype=np.int64).reshape(-1, l * l)
    cb = c.reshape(1, l * l).astype(np.int64)
    ok = np.all(sums * cb >= 0, axis=1)  # no block of the wrong sign
    n_tie = np.sum(sums == 0, axis=1)
    logw = -beta * e[ok] - np.log(2.0) * n_tie[ok]
    w = np.exp(logw - logw.max())
    return s[ok].reshape(-1, L, L), w / w.sum()
