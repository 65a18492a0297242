"""SKILD training: symmetry augmentation, checkpoints, exact resume, bad input."""

import json

import numpy as np
import pytest
import torch

from isingsr.diffusion.data import SymmetricBatches, apply_symmetry
from isingsr.diffusion.inference import build_from_checkpoint
import isingsr.train as train_mod
from isingsr.train import TrainConfig, train
from isingsr.exceptions import InputError, TrainingDiverged
from isingsr.io.checkpoint import load_checkpoint, save_checkpoint
from isingsr.io.hdf5 import write_ensemble
from isingsr.mc import sample_configurations


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "L8.h5"
    write_ensemble(path, sample_configurations(8, 200, seed=4), {"beta": 0.4406867935, "source": "test"})
    return path


def test_symmetries_match_numpy():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(8, 1, 6, 6)))
    rot = torch.arange(8) % 4
    flip = torch.arange(8) >= 4
    shift = torch.from_numpy(rng.integers(0, 6, size=(8, 2)))
    sign = torch.tensor([1, -1] * 4)
    y = apply_symmetry(x, rot, flip, shift, sign).numpy()
    for i in range(8):
        ref = x[i, 0].numpy()
        if flip[i]:
            ref = ref[:, ::-1]
        ref = np.rot90(ref, int(rot[i]))
        ref = np.roll(ref, (-int(shift[i, 0]), -int(shift[i, 1])), axis=(0, 1)) * int(sign[i])
        np.testing.assert_array_equal(y[i, 0], ref)


def test_batches_cover_the_symmetry_group_and_resume():
    spins = np.ones((3, 4, 4), np.int8)
    spins[:, 0, 0] = -1  # a marked site shows where translations and rotations took it
    b = SymmetricBatches(spins, batch=512, seed=1)
    x = next(b)
    assert x.shape == (512, 1, 4, 4) and x.dtype == torch.float32
    marked = (x[:, 0] * x[:, 0].sum(dim=(1, 2), keepdim=True).sign() < 0)  # minority site after flips
    assert marked.float().mean(0).min() > 0.03  # every site visited: translations act
    assert (x.sum(dim=(1, 2, 3)) < 0).float().mean().item() == pytest.approx(0.5, abs=0.07)  # spin flips
    state = b.state_dict()
    again = next(b)
    b.load_state_dict(state)
    assert torch.equal(next(b), again)


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"kind": "skild", "w": torch.arange(3.0), "config": {"a": 1}})
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck["config"] == {"a": 1} and torch.equal(ck["w"], torch.arange(3.0)) and "created" in ck
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an isingsr checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")


def cfg(data, out, **kw):
    base = dict(data=str(data), out=str(out), steps=4, batch=8, warmup=2, ckpt_every=2, log_every=1, seed=3)
    return TrainConfig(**(base | kw))


def test_exact_resume_equals_uninterrupted(tmp_path, data, monkeypatch):
    full = load_checkpoint(train(cfg(data, tmp_path / "full"), log=lambda s: None))
    train(cfg(data, tmp_path / "part", steps=2), log=lambda s: None)
    monkeypatch.chdir(data.parent)  # the same data file named by a relative path is the same run
    resumed = load_checkpoint(train(cfg(data.name, tmp_path / "part", steps=4), resume=True, log=lambda s: None))
    assert full["step"] == resumed["step"] == 4
    for key in ("model", "ema"):
        for name, w in full[key].items():
            assert torch.equal(w, resumed[key][name]), (key, name)
    lines = (tmp_path / "part" / "loss.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["step", "1", "2", "3", "4"]


def test_checkpoint_describes_itself(tmp_path, data):
    ck = load_checkpoint(train(cfg(data, tmp_path / "r", steps=2), log=lambda s: None))
    for key in ("config", "unet", "process", "spectrum", "gains", "data", "model", "ema", "optimizer", "step"):
        assert key in ck, key
    assert ck["process"]["L"] == 8 and ck["data"]["n"] == 200 and "2" in ck["gains"]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["preset"] == "small"
    den = build_from_checkpoint(ck)  # needs nothing but the checkpoint
    x0 = den(torch.zeros(2, 1, 8, 8, dtype=torch.float64), torch.tensor([0.5, 0.9], dtype=torch.float64))
    assert x0.shape == (2, 1, 8, 8) and torch.isfinite(x0).all()
    for f in ("log.txt", "loss.csv", "loss.png"):
        assert (tmp_path / "r" / f).exists()


def test_init_from_starts_at_another_size_from_the_source_weights(tmp_path, data):
    """Fine-tuning: an L = 8 model's EMA weights start a run on L = 16 data; that run's own process,
    spectrum and pass-band statistics are the new data's; a mismatched architecture answers one line."""
    src = train(cfg(data, tmp_path / "src", steps=2), log=lambda s: None)
    big = tmp_path / "L16.h5"
    write_ensemble(big, sample_configurations(16, 60, seed=5), {"beta": 0.4406867935, "source": "test"})
    ck = load_checkpoint(train(cfg(big, tmp_path / "ft", steps=1, lr=1e-12, warmup=0, init_from=str(src)),
                               log=lambda s: None))
    source = load_checkpoint(src)
    assert ck["process"]["L"] == 16 and ck["init_from"]["L"] == 8 and ck["init_from"]["step"] == 2
    for name, w in source["ema"].items():  # one step at lr 1e-12: still the source's weights
        assert torch.allclose(ck["model"][name], w, atol=1e-6), name
    fresh = load_checkpoint(train(cfg(big, tmp_path / "fresh", steps=1, lr=1e-12, warmup=0), log=lambda s: None))
    assert not all(torch.allclose(fresh["model"][k], w, atol=1e-6) for k, w in source["ema"].items())
    assert ck["spectrum"]["L"] == 16 and torch.equal(ck["spectrum"]["S_bins"], fresh["spectrum"]["S_bins"])
    assert torch.equal(ck["gains"]["2"], fresh["gains"]["2"])  # pass-band statistics of the new data
    resumed = load_checkpoint(train(cfg(big, tmp_path / "ft", steps=2, lr=1e-12, warmup=0), resume=True,
                                    log=lambda s: None))
    assert resumed["init_from"] == ck["init_from"]  # the provenance survives a resume without --init-from
    with pytest.raises(InputError, match="same preset"):
        train(cfg(big, tmp_path / "bad", steps=1, preset="base", init_from=str(src)), log=lambda s: None)
    with pytest.raises(InputError, match="no such checkpoint"):
        train(cfg(big, tmp_path / "bad2", steps=1, init_from=str(tmp_path / "none.pt")), log=lambda s: None)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()  # nothing left behind


def test_training_reduces_the_loss(tmp_path, data):
    train(cfg(data, tmp_path / "r", steps=60, lr=1e-3, warmup=5, ckpt_every=60), log=lambda s: None)
    loss = np.loadtxt(tmp_path / "r" / "loss.csv", delimiter=",", skiprows=1)[:, 1]
    assert loss[-15:].mean() < 0.95 * loss[:5].mean()


def test_losses_read_back_per_interval_keep_every_step(tmp_path, data):
    """The losses reach the host once per logging interval: loss.csv still has every step, in order, and each
    log line's running loss is the running mean of the rows up to its step."""
    progress = []
    train(cfg(data, tmp_path / "r", steps=7, log_every=3, ckpt_every=5), log=lambda s: None,
          progress=lambda step, total, loss: progress.append((step, loss)))
    rows = np.loadtxt(tmp_path / "r" / "loss.csv", delimiter=",", skiprows=1)
    assert rows[:, 0].tolist() == list(range(1, 8)) and np.isfinite(rows[:, 1]).all()
    running, expect = None, {}
    for step, v in rows:
        running = v if running is None else 0.98 * running + 0.02 * v
        expect[int(step)] = running
    lines = (tmp_path / "r" / "log.txt").read_text().splitlines()
    logged = {int(line.split()[1]): float(line.split()[3]) for line in lines}
    assert sorted(logged) == [3, 6, 7]
    for step, value in logged.items():
        assert value == pytest.approx(expect[step], rel=1e-4)
    assert [p[0] for p in progress] == list(range(1, 8)) and progress[0][1] is None
    assert progress[-1][1] == pytest.approx(expect[7], rel=1e-4)


def test_learning_rate_schedules():
    """Warm-up then constant, or a half cosine from lr at the end of the warm-up to zero at the last step."""
    const = TrainConfig(data="d", out="o", lr=1e-3, warmup=4, steps=14)
    cos = TrainConfig(data="d", out="o", lr=1e-3, warmup=4, steps=14, lr_schedule="cosine")
    for c in (const, cos):
        assert [train_mod._lr(c, k) for k in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert all(train_mod._lr(const, k) == 1e-3 for k in range(4, 20))
    assert train_mod._lr(cos, 4) == pytest.approx(1e-3)
    assert train_mod._lr(cos, 9) == pytest.approx(5e-4)  # half way through the decay
    assert train_mod._lr(cos, 14) == pytest.approx(0, abs=1e-15) == train_mod._lr(cos, 30)
    lrs = [train_mod._lr(cos, k) for k in range(4, 15)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert train_mod.LR_SCHEDULES == ("constant", "cosine")


def test_bad_training_input(tmp_path, data):
    train(cfg(data, tmp_path / "r", steps=1), log=lambda s: None)
    with pytest.raises(InputError, match="already holds a run"):
        train(cfg(data, tmp_path / "r", steps=1), log=lambda s: None)
    with pytest.raises(InputError, match="no checkpoint.pt"):
        train(cfg(data, tmp_path / "new"), resume=True, log=lambda s: None)
    with pytest.raises(InputError, match="different seed"):
        train(cfg(data, tmp_path / "r", steps=2, seed=9), resume=True, log=lambda s: None)
    with pytest.raises(InputError, match="different lr_schedule"):
        train(cfg(data, tmp_path / "r", steps=2, lr_schedule="cosine"), resume=True, log=lambda s: None)
    with pytest.raises(InputError, match="unknown learning-rate schedule"):
        train(cfg(data, tmp_path / "z", lr_schedule="linear"), log=lambda s: None)
    with pytest.raises(InputError, match="unknown target"):
        train(cfg(data, tmp_path / "x", target="score"), log=lambda s: None)
    with pytest.raises(InputError, match="no such file"):
        train(cfg(tmp_path / "none.h5", tmp_path / "y"), log=lambda s: None)


def test_divergence_stops_with_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    """A NaN loss at step 5 (checkpoints every 2): one message naming step 5 and the step-4 checkpoint,
    no checkpoint with an update from the bad loss, and --resume with a lower --lr continues from the good
    state."""
    real = train_mod._SETUPS["skild"]
    calls = []

    def poisoned(*args):
        setup = real(*args)
        loss = setup.loss

        def nan_at_5(model, x0, gen):
            calls.append(1)
            value = loss(model, x0, gen)
            return value * float("nan") if len(calls) == 5 else value

        setup.loss = nan_at_5
        return setup

    monkeypatch.setitem(train_mod._SETUPS, "skild", poisoned)
    with pytest.raises(TrainingDiverged, match=r"nan at step 5; .*checkpoint.pt holds the last good state "
                                               r"\(step 4\); .*--resume --lr 5e-05") as err:
        train(cfg(data, tmp_path / "r", steps=8), log=lambda s: None)
    assert "\n" not in str(err.value)
    ck = load_checkpoint(tmp_path / "r" / "checkpoint.pt")  # refuses non-finite weights
    assert ck["step"] == 4
    monkeypatch.setitem(train_mod._SETUPS, "skild", real)
    messages = []
    resumed = load_checkpoint(train(cfg(data, tmp_path / "r", steps=8, lr=5e-5), resume=True, log=messages.append))
    assert resumed["step"] == 8 and resumed["config"]["lr"] == 5e-5
    assert any("lr 5e-05 (was 0.0002)" in m for m in messages)


def test_divergence_before_any_checkpoint_says_start_again(tmp_path, data, monkeypatch):
    real = train_mod._SETUPS["skild"]

    def poisoned(*args):
        setup = real(*args)
        setup.loss = lambda model, x0, gen: torch.tensor(float("inf"), requires_grad=True)
        return setup

    monkeypatch.setitem(train_mod._SETUPS, "skild", poisoned)
    with pytest.raises(TrainingDiverged, match="inf at step 1, before the first checkpoint"):
        train(cfg(data, tmp_path / "r"), log=lambda s: None)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.parametrize("method, scale, width", [("skild", None, 16), ("sr3", 2.0, 16), ("cnn", 2.0, 32)])
def test_tiny_preset_trains_every_method(tmp_path, data, method, scale, width):
    """--preset tiny means half of small's width for every method."""
    ck = load_checkpoint(train(cfg(data, tmp_path / "r", steps=1, preset="tiny", method=method, scale=scale),
                               log=lambda s: None))
    assert (ck["cnn"]["width"] if method == "cnn" else ck["unet"]["channels"]) == width
