"""Changes of scale: block-spin rules, spectral resampling, upsampling helpers.

This module is the one place in isingsr where configurations change size.

Conventions
-----------
Configurations are ``(N, L, L)`` (or a single ``(L, L)``) arrays on an
``L x L`` periodic lattice, int8 +-1 for spins; real fields are float64.
A coarse-graining by a *scale* ``s`` maps ``L`` to ``L' = L / s``.

* **Integer factor** ``b`` dividing ``L`` (:func:`block_spin`): the lattice is
  cut into ``b x b`` blocks, block ``(I, J)`` holding the sites
  ``(b I + i, b J + j)``, ``0 <= i, j < b``.

  - ``majority`` (default; Kadanoff's block spin): the sign of the block
    sum; a tie (block sum 0, possible when ``b*b`` is even) becomes +1 or -1
    with probability 1/2 each, drawn from a seeded :class:`numpy.random.Generator`.
  - ``average``: the block mean, float64 in [-1, 1].
  - ``decimation``: the top-left spin ``(b I, b J)`` of each block.

* **Any real factor** (:func:`coarse_grain` with a non-integer scale, or an
  integer one that does not divide ``L``): Fourier resampling
  (:func:`spectral_resample`) to ``L' = round(L / s)`` followed by the sign,
  with ties (``|x| <= TIE_ATOL``) broken at random as for majority. The real
  field before the sign plays the role of the block average.

Upsampling (for baselines and consistency checks): :func:`block_fill` repeats
each coarse spin over its block, :func:`spectral_resample` zero-pads the
spectrum, and :func:`upsample` picks between them as :func:`coarse_grain` does.

References
----------
L. P. Kadanoff, "Scaling laws for Ising models near T_c", Physics 2, 263 (1966).
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
"""

from __future__ import annotations


import numpy as np

from .exceptions import InputError
from .validate import integer, real

__all__ = [
    "RULES",
    "TIE_ATOL",
    "block_spin",
    "block_fill",
    "spectral_resample",
    "coarse_grain",
    "upsample",
    "sign_random_ties",
    "target_size",
    "is_block_scale",
    "majority_blocks",
    "block_centre",
]

#: Block-spin rules of :func:`block_spin`.
RULES = ("majority", "average", "decimation")
#: Real values with ``|x| <= TIE_ATOL`` count as ties of the sign (round-off of the FFT is ~1e-15).
TIE_ATOL = 1e-9
_CHUNK = 256  # configurations transformed at once by spectral_resample (bounds memory)


def _as_stack(spins, what: str = "spins") -> tuple[np.ndarray, bool]:
    """``(N, L, L)`` view of a stack or a single configuration, and whether it was single."""
    a = np.asarray(spins)
    if a.ndim not in (2, 3):
        raise InputError(f"{what}: expected shape (L, L) or (N, L, L), got {a.shape} (ndim {a.ndim})")
    if a.shape[-1] != a.shape[-2]:
        raise InputError(f"{what}: lattice must be square, got {a.shape[-2]} x {a.shape[-1]}")
    if a.shape[-1] < 1:
        raise InputError(f"{what}: empty lattice, shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"{what}: expected integer or real values, got dtype {a.dtype}")
    return (a[None], True) if a.ndim == 2 else (a, False)


def _as_int_factor(b, what: str = "block factor") -> int:
    return integer(b, what, minimum=1)


def sign_random_ties(x: np.ndarray, seed=0, atol: float = TIE_ATOL) -> np.ndarray:
    """Sign of a real array as int8 +-1, ties broken by fair coin flips.

    Parameters
    ----------
    x : ndarray, any shape, real
        Values (block sums, block means, resampled fields).
    seed : int, None or numpy.random.Generator
        Seed of the tie-breaking generator (``numpy.random.default_rng(seed)``).
        Coins are drawn only for the tied entries, in C order.
    atol : float
        Entries with ``|x| <= atol`` are ties.

    Returns
    -------
    ndarray, same shape, int8 +-1

    Examples
    --------
    >>> sign_random_ties(np.array([2.0, -0.5, 1e-3])).tolist()
    [1, -1, 1]
    """
    x = np.asarray(x)
    out = np.where(x > 0, 1, -1).astype(np.int8)
    tie = np.abs(x) <= atol
    n_tie = int(np.count_nonzero(tie))
    if n_tie:
        rng = np.random.default_rng(seed)
        out[tie] = np.where(rng.random(n_tie) < 0.5, 1, -1).astype(np.int8)
    return out


def block_spin(spins: np.ndarray, b: int, rule: str = "majority", seed=0) -> np.ndarray:
    """Block-spin transformation by an integer factor ``b``.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L) or (L, L), int8 +-1 (real fields accepted)
        Configurations on the periodic lattice; ``b`` must divide ``L``.
    b : int
        Block size, ``b >= 1``. ``b = 1`` returns a copy (as float64 for ``average``).
    rule : {'majority', 'average', 'decimation'}
        ``majority``: sign of the block sum, ties broken at random (seeded);
        ``average``: block mean; ``decimation``: top-left spin of each block.
    seed : int, None or numpy.random.Generator
        Tie-breaking generator of the majority rule.

    Returns
    -------
    ndarray, shape (N, L/b, L/b) or (L/b, L/b)
        int8 +-1 for ``majority``, float64 for ``average``, input dtype for
        ``decimation``.

    Raises
    ------
    InputError
        Wrong ndim, non-square lattice, ``b`` not a positive integer, ``b``
        not dividing ``L``, unknown rule.

    Examples
    --------
    >>> s = np.array([[1, 1, -1, -1], [1, -1, -1, -1], [1, 1, 1, -1], [1, 1, -1, 1]], dtype=np.int8)
    >>> block_spin(s, 2).tolist()
    [[1, -1], [1, -1]]
    >>> block_spin(s, 2, rule="average").tolist()
    [[0.5, -1.0], [1.0, 0.0]]
    """
    a, single = _as_stack(spins)
    b = _as_int_factor(b)
    if rule not in RULES:
        raise InputError(f"unknown block-spin rule {rule!r}; expected one of {', '.join(RULES)}")
    n, L, _ = a.shape
    if L % b:
        raise InputError(f"block factor {b} does not divide L = {L}")
    m = L // b
    if rule == "decimation":
        out = np.ascontiguousarray(a[:, ::b, ::b])
    else:
        acc = np.int32 if np.issubdtype(a.dtype, np.integer) else np.float64
        sums = a.reshape(n, m, b, m, b).sum(axis=(2, 4), dtype=acc)
        out = sums / float(b * b) if rule == "average" else sign_random_ties(sums, seed)
    return out[0] if single else out


def block_fill(coarse: np.ndarray, b: int) -> np.ndarray:
    """Fill each ``b x b`` block with its coarse value (nearest-neighbour upsampling).

    Parameters
    ----------
    coarse : ndarray, shape (N, l, l) or (l, l)
        Coarse configurations or fields.
    b : int
        Block size, ``b >= 1``.

    Returns
    -------
    ndarray, shape (N, b l, b l) or (b l, b l), same dtype
        ``out[..., b I + i, b J + j] = coarse[..., I, J]``; the inverse of
        :func:`block_spin` on block-constant configurations.

    Examples
    --------
    >>> block_fill(np.array([[1, -1], [-1, -1]], dtype=np.int8), 2)[:2].tolist()
    [[1, 1, -1, -1], [1, 1, -1, -1]]
    """
    c = np.asarray(coarse)
    if c.ndim not in (2, 3):
        raise InputError(f"coarse: expected shape (l, l) or (N, l, l), got {c.shape} (ndim {c.ndim})")
    b = _as_int_factor(b)
    return np.repeat(np.repeat(c, b, axis=-2), b, axis=-1)


def _resample_axis(X: np.ndarray, n_new: int, axis: int) -> np.ndarray:
    """Truncate or zero-pad a full complex spectrum along one axis (unnormalised)."""
    n = X.shape[axis]
    if n_new == n:
        return X
    X = np.moveaxis(X, axis, -1)
    Y = np.zeros(X.shape[:-1] + (n_new,), dtype=np.complex128)
    m = min(n, n_new)
    h = (m - 1) // 2  # frequencies 0, +-1, ..., +-h are copied unchanged
    Y[..., : h + 1] = X[..., : h + 1]
    if h:
        Y[..., n_new - h :] = X[..., n - h :]
    if m % 2 == 0:  # the Nyquist frequency m/2 of the smaller grid
        k = m // 2
        if n_new < n:  # +k and -k of the fine grid alias onto the coarse Nyquist bin: add them
            Y[..., k] = X[..., k] + X[..., n - k]
        else:  # split the old Nyquist bin equally between +k and -k
            Y[..., k] = 0.5 * X[..., k]
            Y[..., n_new - k] = 0.5 * X[..., k]
    return np.moveaxis(Y, -1, axis)


def spectral_resample(x: np.ndarray, L_new: int, shift: float = 0.0) -> np.ndarray:
    """Fourier resampling of a periodic real field to ``L_new x L_new``.

    The field is expanded in its discrete Fourier series, the centred spectrum
    is truncated (``L_new < L``) or zero-padded (``L_new > L``) and transformed
    back on the new grid, separably along both axes. Frequencies
    ``|k| < min(L, L_new) / 2`` are copied. When the smaller size ``m`` is even
    its Nyquist frequency ``m/2`` is treated symmetrically, so the result is
    real: on downsampling the fine-grid bins ``+m/2`` and ``-m/2`` (which
    alias onto the same coarse bin) are added; on upsampling the coarse
    Nyquist bin is split equally between ``+m/2`` and ``-m/2``. Hence
    upsampling followed by downsampling is the identity, and a band-limited
    field (no power at ``|k| >= m/2``) survives a down-up round trip exactly.
    The result is scaled by ``(L_new / L)^2``, i.e. it samples the same
    trigonometric interpolant: a constant field stays the same constant.
    Site ``j`` of the new grid samples the interpolant at old coordinate
    ``(j - shift) L / L_new`` along each axis: with ``shift = 0`` old site 0
    and new site 0 coincide; upsampling majority-rule blocks needs the
    block centres, ``shift = block_centre(...)``.

    Parameters
    ----------
    x : ndarray, shape (N, L, L) or (L, L), real
        Periodic fields (spins are converted to float64).
    L_new : int
        New linear size, ``>= 1``.
    shift : float
        Where old site 0 lands on the new grid, in new-grid spacings (both axes).

    Returns
    -------
    ndarray, shape (N, L_new, L_new) or (L_new, L_new), float64

    Examples
    --------
    >>> spectral_resample(np.full((4, 4), 0.5), 3).round(12).tolist()
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    a, single = _as_stack(x, "field")
    L_new = _as_int_factor(L_new, "L_new")
    n, L, _ = a.shape
    out = np.empty((n, L_new, L_new))
    norm = (L_new / L) ** 2
    for i in range(0, n, _CHUNK):
        X = np.fft.fft2(a[i : i + _CHUNK].astype(np.float64))
        Y = _resample_axis(_resample_axis(X, L_new, -2), L_new, -1)
        if shift:  # a translation by `shift` new-grid sites: a phase per frequency (Hermitian, so real)
            ph = np.exp(-2j * np.pi * np.fft.fftfreq(L_new) * shift)
            Y = Y * ph[:, None] * ph[None, :]
        out[i : i + _CHUNK] = np.fft.ifft2(Y).real * norm
    return out[0] if single else out


def block_centre(L: int, scale, rule: str = "majority") -> float:
    """Where coarse site 0 of ``coarse_grain(., scale, rule)`` sits on the fine lattice, in fine sites.

    Block ``(I, J)`` of a block rule covers the sites ``b I .. b I + b - 1``
    along each axis, so ``majority`` and ``average`` represent its centre,
    ``(b - 1) / 2``; ``decimation`` keeps the spin at ``b I``, offset 0; the
    spectral route of a non-block scale samples the interpolant at the fine
    sites ``I L / L'``, offset 0. Embedding a coarse configuration on the fine
    grid (``spectral_resample(coarse, L, shift=block_centre(L, scale, rule))``)
    puts each coarse value over the sites it summarises; without the shift the
    embedding is displaced by half a block less one half site.

    Examples
    --------
    >>> block_centre(32, 4), block_centre(32, 4, "decimation"), block_centre(32, 2.5)
    (1.5, 0.0, 0.0)
    """
    if rule not in RULES:
        raise InputError(f"unknown block-spin rule {rule!r}; expected one of {', '.join(RULES)}")
    if not is_block_scale(L, scale) or rule == "decimation":
        return 0.0
    return (int(scale) - 1) / 2


def target_size(L: int, scale) -> int:
    """Coarse size ``L' = round(L / scale)`` of a coarse-graining by ``scale``.

    Raises
    ------
    InputError
        ``scale`` not a real number >= 1, or ``L'`` not in ``1 .. L - 1``
        (for ``scale > 1``).
    """
    scale = real(scale, "scale", low=1)
    L_new = int(round(L / float(scale)))
    if scale > 1 and L_new >= L:
        raise InputError(f"scale {scale} leaves L = {L} unchanged (L_new = {L_new} >= L); use a larger scale")
    if L_new < 1:
        raise InputError(f"scale {scale} is larger than L = {L}")
    return L_new


def is_block_scale(L: int, scale) -> bool:
    """Whether :func:`coarse_grain` by ``scale`` takes the block route: an integer dividing L.

    Examples
    --------
    >>> is_block_scale(128, 4.0), is_block_scale(128, 3), is_block_scale(16, 2.1)
    (True, False, False)
    """
    return float(scale).is_integer() and int(scale) >= 1 and L % int(scale) == 0


def majority_blocks(rule: str, L: int, scale) -> bool:
    """Whether inputs coarse-grained by ``rule`` and ``scale`` to a lattice of size L carry block majorities a
    super-resolution can keep (and an exact posterior can condition on): the majority rule on the block route.

    Examples
    --------
    >>> majority_blocks("majority", 32, 4), majority_blocks("decimation", 32, 4), majority_blocks("majority", 32, 2.5)
    (True, False, False)
    """
    return rule == "majority" and is_block_scale(L, scale)


def coarse_grain(spins: np.ndarray, scale, rule: str = "majority", seed=0) -> np.ndarray:
    """Coarse-grain by any real ``scale >= 1`` (integer: block spin; otherwise spectral).

    Parameters
    ----------
    spins : ndarray, shape (N, L, L) or (L, L), int8 +-1
        Fine configurations.
    scale : int or float
        If ``scale`` is an integer that divides ``L``: :func:`block_spin` with
        ``b = scale`` and ``rule``. Otherwise: :func:`spectral_resample` to
        ``L' = round(L / scale)`` (see :func:`target_size`), followed for
        ``rule='majority'`` by the sign with random ties
        (:func:`sign_random_ties`); ``rule='average'`` returns the resampled
        real field; ``decimation`` is not defined for non-integer scales.
    rule : {'majority', 'average', 'decimation'}
    seed : int, None or numpy.random.Generator
        Tie-breaking generator.

    Returns
    -------
    ndarray, shape (N, L', L') or (L', L')
        int8 +-1 for ``majority`` and ``decimation``, float64 for ``average``.

    Examples
    --------
    >>> coarse_grain(np.ones((8, 8), dtype=np.int8), 2.5).shape
    (3, 3)
    """
    a, _ = _as_stack(spins)
    L = a.shape[-1]
    L_new = target_size(L, scale)  # validates scale
    if is_block_scale(L, scale):
        return block_spin(spins, int(scale), rule=rule, seed=seed)
    if rule not in ("majority", "average"):
        raise InputError(f"rule {rule!r} needs an integer scale dividing L = {L}, got {scale}")
    field = spectral_resample(spins, L_new)
    return field if rule == "average" else sign_random_ties(field, seed)


def upsample(coarse: np.ndarray, L_new: int, seed=0, spectral: bool | None = None) -> np.ndarray:
    """Naive upsampling of coarse spins to ``L_new x L_new`` spins.

    Block route: :func:`block_fill` (each block takes its coarse spin).
    Spectral route: :func:`spectral_resample` (spectral zero-padding) to
    ``L_new`` followed by the sign with random ties.

    Parameters
    ----------
    coarse : ndarray, shape (N, l, l) or (l, l), int8 +-1
    L_new : int
        Fine size, ``L_new >= l``.
    seed : int, None or numpy.random.Generator
        Tie-breaking generator of the spectral route.
    spectral : bool, optional
        Force the route. Default: the block route when ``l`` divides
        ``L_new``. To invert ``coarse_grain(spins, scale)`` with the same
        route, pass ``spectral=not is_block_scale(L_new, scale)``.

    Returns
    -------
    ndarray, shape (N, L_new, L_new) or (L_new, L_new), int8 +-1
    """
    c, _ = _as_stack(coarse, "coarse")
    L_new = _as_int_factor(L_new, "L_new")
    l = c.shape[-1]
    if L_new < l:
        raise InputError(f"upsample: L_new = {L_new} is smaller than the coarse size {l}")
    if spectral is None:
        spectral = L_new % l != 0
    if not spectral:
        if L_new % l:
            raise InputError(f"upsample: coarse size {l} does not divide L_new = {L_new}, block fill impossible")
        return block_fill(coarse, L_new // l).astype(np.int8)
    return sign_random_ties(spectral_resample(coarse, L_new), seed)
