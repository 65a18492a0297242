"""Generation and super-resolution from one checkpoint, through the library and the CLI."""

import os
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from isingsr.analysis.compare import block_consistency
from isingsr.cli import cli
from isingsr.constants import BETA_C
from isingsr.diffusion.pipeline import generate_fields, superresolve_fields
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.train import TrainConfig, train
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.coarse import coarse_grain
from isingsr.mc import sample_configurations


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe")
    fine = sample_configurations(8, 64, seed=5)
    write_ensemble(d / "fine.h5", fine, {"source": "test", "beta": BETA_C})
    ck = train(TrainConfig(data=str(d / "fine.h5"), out=str(d / "run"), steps=3, batch=8, warmup=1, seed=1),
               log=lambda s: None)
    return d, ck, fine


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_samples_do_not_depend_on_batch_size(model):
    _, ck_path, _ = model
    den = build_from_checkpoint(load_checkpoint(ck_path))
    a = generate_fields(den, 5, steps=4, batch=5, seed=3)
    b = generate_fields(den, 5, steps=4, batch=2, seed=3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    c = generate_fields(den, 5, steps=4, batch=5, seed=4)
    assert not np.allclose(a, c)


def test_batches_on_every_core_at_once_give_the_same_samples_bit_for_bit(model):
    """isingsr.device.in_batches runs one batch per core at once: generation and super-resolution with a
    block-mean constraint come out as with one batch at a time, bit for bit."""
    _, ck_path, fine = model
    ck = load_checkpoint(ck_path)
    den = build_from_checkpoint(ck)
    coarse = coarse_grain(fine[:12], 2, seed=0)

    def runs():
        return (generate_fields(den, 6, steps=3, batch=2, seed=1),
                superresolve_fields(den, ck, coarse, 2.0, steps=3, batch=2, consistency="conditioned")[0])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = runs()
        torch.set_num_threads(3)
        many = runs()
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, many):
        assert np.array_equal(a, b)


def test_superres_runs_from_t_start(model):
    d, ck_path, fine = model
    ck = load_checkpoint(ck_path)
    den = build_from_checkpoint(ck)
    from isingsr.coarse import coarse_grain

    coarse = coarse_grain(fine, 2, seed=0)
    out, t_s = superresolve_fields(den, ck, coarse, 2.0, steps=5, batch=16)
    assert out.shape == (64, 8, 8) and np.isfinite(out).all()
    assert t_s == pytest.approx(np.log(2) / np.log(8))  # t_start(s) = ln s / ln L
    again, _ = superresolve_fields(den, ck, coarse[:16], 2.0, steps=5, batch=4)
    np.testing.assert_allclose(again, out[:16], rtol=1e-5, atol=1e-5)  # seeds per sample, not per batch


def test_superresolution_with_the_gaussian_oracle_has_the_right_statistics(make_process, radial_z):
    """The whole pipeline (conditional start from pass-band statistics, time grid, sampler, batching) with the
    exact denoiser of Gaussian data, block-averaged 2x: the output has spectrum S in every shell, and each
    pass-band mode keeps the correlation a(t_s)^2 rho^2 with the true fine field that the construction implies
    (X_0 | y ~ N(rho g Y, (1 - rho^2) S) diffused to t_s, then the exact reverse process)."""
    from isingsr.diffusion.denoiser import wiener_denoiser
    from isingsr.diffusion.rng import generators
    from isingsr.diffusion.samplers import gaussian_field
    from isingsr.diffusion.spectral import mode_power
    from isingsr.diffusion.starts import measure_passband

    L, N, scale = 16, 3000, 2
    p = make_process(L=L, blur_per_block=0.5)  # an early start: many pass-band modes keep a ~ 1
    train_fields = gaussian_field(p, N, generators(range(N)))[:, 0].numpy()
    gain, corr = measure_passband(train_fields, scale, rule="average")
    ck = {"gains": {"2": gain}, "passband_corr": {"2": corr}}
    truth = gaussian_field(p, N, generators(range(N, 2 * N)))[:, 0].numpy()
    coarse = coarse_grain(truth, scale, rule="average")

    class Oracle:
        process = p
        __call__ = staticmethod(wiener_denoiser(p))

    out, t_s = superresolve_fields(Oracle(), ck, coarse, float(scale), steps=20, rule="average", seed=1)
    z = radial_z(mode_power(out), p.S, N, "fourier", L)
    assert float(z.abs().max()) < 4.0
    X, T = (p.basis.forward(torch.from_numpy(np.asarray(a, dtype=np.float64))) for a in (out, truth))
    c = (X * T).mean(0) / p.S
    expected = p.a(t_s) ** 2 * corr**2
    band = corr > 0.5
    assert int(band.sum()) >= 20
    assert float((c - expected)[band].abs().max()) < 5 / np.sqrt(N)
    assert int((expected > 0.5).sum()) >= 10  # the input visibly constrains the output


def test_cli_sample_and_superres(model):
    d, ck, _ = model
    r = invoke("sample", "--ckpt", ck, "-n", 6, "--steps", 3, "--out", d / "gen.h5", "--save-fields", "-q")
    assert r.exit_code == 0, r.stderr
    with h5py.File(d / "gen.h5") as f:
        assert f["fields"].shape == (6, 8, 8) and f.attrs["kind"] == "skild-generation" and f.attrs["steps"] == 3
    assert load_ensemble(d / "gen.h5").n == 6
    assert invoke("coarsen", "--input", d / "fine.h5", "--scale", 2, "--out", d / "c.h5").exit_code == 0
    r = invoke("superres", "--ckpt", ck, "--input", d / "c.h5", "--scale", 2, "--out", d / "sr.h5", "-n", 8,
               "--steps", 3, "--sampler", "ddim", "-q")
    assert r.exit_code == 0, r.stderr
    a = load_ensemble(d / "sr.h5").attrs
    assert a["protocol"] == "conditional" and a["scale"] == 2.0 and a["sampler"] == "ddim" and a["L_coarse"] == 4
    assert a["rule"] == "majority" and a["wall_s"] >= 0
    r = invoke("superres", "--ckpt", ck, "--input", d / "c.h5", "--scale", 2, "--out", d / "srf.h5", "-n", 8,
               "--steps", 3, "--start", "forward", "--fine", d / "fine.h5", "-q")
    assert r.exit_code == 0 and load_ensemble(d / "srf.h5").attrs["protocol"] == "forward"
    r = invoke("superres", "--ckpt", ck, "--input", d / "c.h5", "--scale", 2, "--out", d / "srp.h5", "-n", 8,
               "--steps", 3, "--consistency", "conditioned", "--particles", 3, "-q")
    assert r.exit_code == 0, r.stderr
    e = load_ensemble(d / "srp.h5")
    a, c = e.attrs, load_ensemble(d / "c.h5", max_samples=8).spins
    # the measured pairing: the proposal's lift from the estimate the twist uses
    assert a["particles"] == 3 and a["lift_a"] == a["twist_a"] == 0.1 and a["smc_configs"] == 8
    assert 0 <= a["smc_final_ess"] <= 1 and a["smc_no_consistent"] >= 0
    assert block_consistency(e.spins, c, 2) == 1.0


def test_default_super_resolution_keeps_the_input(model, tmp_path):
    """Without --consistency and --particles, superres by 4 runs ``conditioned`` with 4 weighted particles and
    records it, and every output block keeps the input; with another sampler ``conditioned`` alone; at 2x, and
    for an input without block majorities (decimation), the free sampler."""
    d, ck, _ = model
    shipped = "isingsr/models/skild_L32_tiny.pt"
    fine = sample_configurations(32, 4, seed=5)
    write_ensemble(tmp_path / "L32.h5", fine, {"beta": BETA_C})
    assert invoke("coarsen", "--input", tmp_path / "L32.h5", "--scale", 4, "--out", tmp_path / "c4.h5").exit_code == 0
    c4 = load_ensemble(tmp_path / "c4.h5").spins
    r = invoke("superres", "--ckpt", shipped, "--input", tmp_path / "c4.h5", "--scale", 4, "--out", tmp_path / "a.h5",
               "--steps", 4, "-q")
    assert r.exit_code == 0, r.stderr
    e = load_ensemble(tmp_path / "a.h5")
    assert (e.attrs["consistency"], e.attrs["particles"], e.attrs["lift_a"]) == ("conditioned", 4, 0.1)
    assert block_consistency(e.spins, c4, 4) == 1.0
    r = invoke("superres", "--ckpt", shipped, "--input", tmp_path / "c4.h5", "--scale", 4, "--out", tmp_path / "b.h5",
               "--steps", 4, "--sampler", "ddim", "-q")
    assert r.exit_code == 0, r.stderr
    e = load_ensemble(tmp_path / "b.h5")
    assert e.attrs["consistency"] == "conditioned" and "particles" not in e.attrs and "lift_a" not in e.attrs
    assert block_consistency(e.spins, c4, 4) == 1.0
    assert invoke("coarsen", "--input", d / "fine.h5", "--scale", 2, "--out", d / "c_auto.h5").exit_code == 0
    r = invoke("superres", "--ckpt", ck, "--input", d / "c_auto.h5", "--scale", 2, "--out", d / "auto2.h5", "-n", 4,
               "--steps", 3, "-q")
    assert r.exit_code == 0, r.stderr
    a = load_ensemble(d / "auto2.h5").attrs
    assert a["consistency"] == "none" and "particles" not in a
    r = invoke("coarsen", "--input", tmp_path / "L32.h5", "--scale", 4, "--rule", "decimation", "--out",
               tmp_path / "dec.h5")
    assert r.exit_code == 0, r.stderr
    r = invoke("superres", "--ckpt", shipped, "--input", tmp_path / "dec.h5", "--scale", 4, "--out",
               tmp_path / "c.h5", "--steps", 3, "-q")
    assert r.exit_code == 0, r.stderr
    a = load_ensemble(tmp_path / "c.h5").attrs
    assert a["consistency"] == "none" and "particles" not in a and a["steps"] == 3


def test_superres_notes_a_scale_other_than_the_inputs(tmp_path):
    """An input coarse-grained by 4 super-resolved by 3 runs (a partial super-resolution is legitimate) but says
    that the output is not the source's size; the matching scale says nothing."""
    write_ensemble(tmp_path / "L32.h5", sample_configurations(32, 1, seed=7), {"beta": BETA_C})
    assert invoke("coarsen", "--input", tmp_path / "L32.h5", "--scale", 4, "--out", tmp_path / "c.h5").exit_code == 0
    shipped = "isingsr/models/skild_L32_tiny.pt"
    r = invoke("superres", "--ckpt", shipped, "--input", tmp_path / "c.h5", "--scale", 3, "--out", tmp_path / "a.h5",
               "--steps", 1)
    assert r.exit_code == 0, r.stderr
    assert "coarse-grained by 4" in r.stderr and "24x24" in r.stderr
    r = invoke("superres", "--ckpt", shipped, "--input", tmp_path / "c.h5", "--scale", 4, "--out", tmp_path / "b.h5",
               "--steps", 1)
    assert r.exit_code == 0 and "coarse-grained by" not in r.stderr


def test_library_defaults_resolve_as_the_command_line():
    """A super-resolver asked for ``consistency='auto'`` and ``particles=None`` resolves the lift as the command
    line does (from the Wiener-filtered estimate, the pairing the particles are measured with), not from the
    network's own estimate; with no options it is the free sampler."""
    from isingsr.superres import load_superresolver

    shipped = "isingsr/models/skild_L32_tiny.pt"
    coarse = coarse_grain(sample_configurations(32, 2, seed=6), 4)
    auto = load_superresolver("skild", shipped, consistency="auto", particles=None, steps=2)
    auto.superresolve(coarse, 4)
    assert (auto.resolved["consistency"], auto.resolved["particles"], auto.resolved["lift_a"]) == ("conditioned", 4,
                                                                                                   0.1)
    free = load_superresolver("skild", shipped, steps=2)
    free.superresolve(coarse, 4)
    assert (free.resolved["consistency"], free.resolved["particles"], free.resolved["lift_a"]) == ("none", 1, 0.0)


def test_denoiser_evaluates_a_large_batch_in_pieces_with_the_same_output():
    """On a CPU a batch larger than ``auto_batch`` is evaluated in pieces of that size (activations under glibc's
    mmap threshold); each configuration's estimate is the whole batch's to float32 rounding (the convolutions'
    own partitioning may differ with the batch), with one time or one per configuration."""
    from isingsr.defaults import auto_batch

    den = build_from_checkpoint(load_checkpoint("isingsr/models/skild_L32_tiny.pt"))
    n = 2 * auto_batch(32) + 6
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(n, 1, 32, 32, dtype=torch.float64, generator=gen)
    t = 0.1 + 0.5 * torch.rand(n, dtype=torch.float64, generator=gen)
    calls = []
    predict = den.predict
    den.predict = lambda x_t, tt: calls.append(x_t.shape[0]) or predict(x_t, tt)
    size = auto_batch(32)
    with torch.no_grad():
        for times in (t, 0.3):
            calls.clear()
            torch.testing.assert_close(den._predict_in_pieces(x, times), predict(x, times), rtol=1e-5, atol=1e-5)
            assert calls == [size, size, 6]
        calls.clear()
        den(x, t)
        assert calls == [size, size, 6]


def test_default_super_resolution_runs_free_on_an_input_of_many_blocks(tmp_path):
    """An input of 16 x 16 blocks (more than the particles are measured to correct) is super-resolved by the free
    sampler by default, and the file says so."""
    write_ensemble(tmp_path / "L64.h5", sample_configurations(64, 1, seed=8), {"beta": BETA_C})
    assert invoke("coarsen", "--input", tmp_path / "L64.h5", "--scale", 4, "--out", tmp_path / "c.h5").exit_code == 0
    r = invoke("superres", "--ckpt", "isingsr/models/skild_L32_tiny.pt", "--input", tmp_path / "c.h5", "--scale", 4,
               "--out", tmp_path / "sr.h5", "--steps", 1, "-q")
    assert r.exit_code == 0, r.stderr
    a = load_ensemble(tmp_path / "sr.h5").attrs
    assert a["consistency"] == "none" and "particles" not in a and a["L"] == 64


def test_automatic_consistency_resolves_by_input():
    """``auto`` is conditioned where blocks can be kept at 4x and above on inputs of at most 64 blocks and none
    elsewhere; particles default to 4 with conditioned where the particle filter can run; the lift's signal
    fraction follows the particles."""
    from isingsr.defaults import resolve_consistency as resolve

    assert resolve("auto", None, None, scale=4, block=True, blocks=64, smc_ok=True) == ("conditioned", 4, 0.1)
    assert resolve("auto", None, None, scale=8, block=True, blocks=64, smc_ok=True) == ("conditioned", 4, 0.1)
    assert resolve("auto", None, None, scale=2, block=True, blocks=64, smc_ok=True) == ("none", 1, 0.0)
    assert resolve("auto", None, None, scale=4, block=False, blocks=64, smc_ok=True) == ("none", 1, 0.0)
    assert resolve("auto", None, None, scale=4, block=True, blocks=64, smc_ok=False) == ("conditioned", 1, 0.0)
    assert resolve("conditioned", None, None, scale=2, block=True, blocks=64, smc_ok=True) == ("conditioned", 4, 0.1)
    assert resolve("none", None, None, scale=4, block=True, blocks=64, smc_ok=True) == ("none", 1, 0.0)
    assert resolve("held", 8, None, scale=4, block=True, blocks=64, smc_ok=True) == ("held", 8, 0.1)
    assert resolve("none", 8, None, scale=4, block=True, blocks=64, smc_ok=True) == ("none", 8, 0.0)
    assert resolve("conditioned", 1, 0.2, scale=4, block=True, blocks=64, smc_ok=True) == ("conditioned", 1, 0.2)
    # inputs of more blocks than the particles are measured to correct run free; explicit choices are kept
    assert resolve("auto", None, None, scale=4, block=True, blocks=65, smc_ok=True) == ("none", 1, 0.0)
    assert resolve("auto", None, None, scale=4, block=True, blocks=1024, smc_ok=False) == ("none", 1, 0.0)
    assert resolve("conditioned", None, None, scale=4, block=True, blocks=1024, smc_ok=True) == ("conditioned", 4,
                                                                                                    0.1)


def test_correlate_with_the_consistency_projection_and_the_exact_polish(model, tmp_path):
    """SKILD's spins coarse-grain to the input with --consistency project, mean or truncated, and the exact polish
    (constrained Metropolis from SKILD's output) is a separate row; --polish without the projection is refused in
    one line."""
    import json

    d, ck, _ = model
    truth = tmp_path / "truth.h5"
    write_ensemble(truth, sample_configurations(8, 40, seed=9), {"beta": BETA_C, "source": "test"})
    common = ["correlate", "--truth", truth, "--scale", 2, "--ckpt", ck, "--steps", 3, "--methods", "skild,posterior",
              "-q"]
    for mode in ("project", "mean", "truncated"):
        r = invoke(*common, "--out", tmp_path / mode, "--consistency", mode, "--polish", 2)
        assert r.exit_code == 0, r.stderr
        s = json.loads((tmp_path / mode / "summary.json").read_text())
        assert s["comparison"]["skild"]["consistency"] == 1.0 and s["comparison"]["skild_polish"]["consistency"] == 1.0
        assert s["ensembles"]["skild"]["provenance"]["consistency"] == mode
        assert s["ensembles"]["skild_polish"]["provenance"]["polish_sweeps"] == 2
    r = invoke(*common, "--out", tmp_path / "b", "--polish", 2)
    assert r.exit_code == 2 and "--consistency mean" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_superres_at_another_size(model):
    """A checkpoint trained at L = 8 super-resolves 8x8 inputs by 2 to 16x16 (critical scaling of its process)."""
    d, ck, _ = model
    r = invoke("superres", "--ckpt", ck, "--input", d / "fine.h5", "--scale", 2, "--out", d / "sr16.h5", "-n", 4,
               "--steps", 3, "--save-fields", "-q")
    assert r.exit_code == 0, r.stderr
    e = load_ensemble(d / "sr16.h5")
    assert e.L == 16 and e.n == 4 and e.attrs["trained_L"] == 8 and e.attrs["t_start"] == pytest.approx(0.25)
    with h5py.File(d / "sr16.h5") as f:
        assert np.isfinite(f["fields"][...]).all()


@pytest.mark.parametrize("args,fragment", [
    (["--scale", 3], "no pass-band statistics for scale 3"),
    (["--scale", 2, "--L", 12], "does not match"),
    (["--scale", 2, "--start", "forward"], "--fine"),
])
def test_superres_bad_input_one_line(model, args, fragment):
    d, ck, _ = model
    invoke("coarsen", "--input", d / "fine.h5", "--scale", 2, "--out", d / "c2.h5", "--overwrite")
    r = invoke("superres", "--ckpt", ck, "--input", d / "c2.h5", "--out", d / "x.h5", "-q", *args)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and fragment in r.stderr


def test_start_protocols_and_checkpoints_made_before_the_conditional_start(model, tmp_path):
    d, ck_path, fine = model
    from isingsr.coarse import coarse_grain
    from isingsr.diffusion.train import add_passband_statistics
    from isingsr.exceptions import InputError

    ck = load_checkpoint(ck_path)
    den = build_from_checkpoint(ck)
    coarse = coarse_grain(fine[:6], 2, seed=0)
    runs = {s: superresolve_fields(den, ck, coarse, 2.0, start=s, steps=3)[0] for s in ("conditional", "coarse")}
    assert not np.allclose(runs["conditional"], runs["coarse"])
    early, t_s = superresolve_fields(den, ck, coarse, 2.0, steps=3, t_start=0.2)
    assert t_s == 0.2 and early.shape == runs["coarse"].shape
    with pytest.raises(InputError, match="t_start must lie in"):
        superresolve_fields(den, ck, coarse, 2.0, steps=3, t_start=1.0)
    # the start's blur constant: c = the checkpoint's is the default start, another c its time at blur c sqrt(3)
    p = den.process
    same, t_same = superresolve_fields(den, ck, coarse, 2.0, start="coarse", steps=3, start_blur=p.blur_per_block)
    assert t_same == pytest.approx(float(p.t_start(2.0)), rel=1e-12)
    np.testing.assert_array_equal(same, runs["coarse"])
    _, t_half = superresolve_fields(den, ck, coarse, 2.0, steps=3, start_blur=0.5)
    assert float(p.blur_length(t_half)) == pytest.approx(0.5 * np.sqrt(3), rel=1e-9)
    assert t_half < t_same
    with pytest.raises(InputError, match="blur constant must be > 0"):
        superresolve_fields(den, ck, coarse, 2.0, steps=3, start_blur=0.0)
    with pytest.raises(InputError, match="not both"):
        superresolve_fields(den, ck, coarse, 2.0, steps=3, start_blur=0.5, t_start=0.2)
    old = {k: v for k, v in ck.items() if k != "passband_corr"}
    with pytest.raises(InputError, match="predates the conditional start"):
        superresolve_fields(den, old, coarse, 2.0, steps=3)
    np.testing.assert_array_equal(superresolve_fields(den, old, coarse, 2.0, start="coarse", steps=3)[0],
                                  runs["coarse"])
    torch.save(old, tmp_path / "old.pt")
    new = add_passband_statistics(tmp_path / "old.pt", d / "fine.h5", out=tmp_path / "new.pt")
    for key, corr in load_checkpoint(new)["passband_corr"].items():
        assert torch.equal(corr, ck["passband_corr"][key])  # the training data measure the same correlations
    write_ensemble(tmp_path / "other.h5", sample_configurations(8, 64, seed=6), {"beta": BETA_C})
    with pytest.raises(InputError, match="not the checkpoint's training data"):
        add_passband_statistics(tmp_path / "old.pt", tmp_path / "other.h5")


def test_bad_checkpoint_one_line(tmp_path):
    (tmp_path / "x.pt").write_text("nope")
    r = invoke("sample", "--ckpt", tmp_path / "x.pt", "-n", 1, "--out", tmp_path / "o.h5")
    assert r.exit_code == 2 and "not a readable checkpoint" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _torchrun(d, out, steps, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "isingsr.cli", "train", "--data", str(d / "fine.h5"), "--out", str(out),
           "--steps", str(steps), "--batch", "8", "--warmup", "1", "--ckpt-every", "2", "-q", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ,
                                                                                "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]


def test_data_parallel_training_with_gloo_resumes_exactly(model, tmp_path):
    """torchrun with 2 CPU processes (gloo): 2 steps + resume + 2 steps == 4 steps, bit for bit."""
    d, _, _ = model
    _torchrun(d, tmp_path / "a", 4)
    _torchrun(d, tmp_path / "b", 2)
    ck = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert ck["step"] == 2 and len(ck["rng"]["ranks"]) == 2
    assert '"world_size": 2' in (tmp_path / "b" / "config.json").read_text()
    _torchrun(d, tmp_path / "b", 4, "--resume")
    wa = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["model"]
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    r = invoke("train", "--data", d / "fine.h5", "--out", tmp_path / "b", "--steps", 6, "--batch", 8, "--warmup", 1,
               "--ckpt-every", 2, "--resume", "-q")
    assert r.exit_code == 2 and "same number" in r.output
    # The multi-node form of docs/scaling.md: two "nodes" of one process each, meeting by c10d rendezvous as
    # srun-launched torchrun processes do, train exactly as one node with two processes.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend",
         "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "isingsr-test", "-m", "isingsr.cli", "train",
         "--data", str(d / "fine.h5"), "--out", str(tmp_path / "c"), "--steps", "4", "--batch", "8", "--warmup",
         "1", "--ckpt-every", "2", "-q"], env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for node in nodes:
        _, err = node.communicate(timeout=300)
        assert node.returncode == 0, err[-2000:]
    wc = load_checkpoint(tmp_path / "c" / "checkpoint.pt")["model"]
    for k in wa:
        assert torch.equal(wa[k], wc[k]), k


def test_default_steps_grow_with_the_scale(model, monkeypatch):
    """Without --steps, super-resolution by S takes the measured counts at 2x, 4x and 8x, interpolated in log S
    between them, and records them."""
    from isingsr.defaults import SUPERRES_STEPS, superres_steps
    from isingsr.diffusion import pipeline
    from isingsr.superres import load_superresolver

    assert [superres_steps(s) for s in (1.5, 2, 2.5, 4, 8, 16)] == [35, 35, 56, 100, 150, 300]
    assert all(superres_steps(s) == n for s, n in SUPERRES_STEPS.items())
    counts = [superres_steps(s) for s in np.geomspace(1, 20, 60)]
    assert counts == sorted(counts)  # more steps for a larger scale, never fewer
    d, ck_path, fine = model
    used = []
    real = pipeline.time_grid
    monkeypatch.setattr(pipeline, "time_grid", lambda n, *a, **k: used.append(n) or real(3, *a, **k))
    resolver = load_superresolver("skild", ck_path)  # an L = 8 model: scale 2 only
    resolver.superresolve(coarse_grain(fine[:2], 2, seed=0), 2.0)
    assert used == [35] and resolver.provenance()["steps"] == 35
    fixed = load_superresolver("skild", ck_path, steps=7)
    fixed.superresolve(coarse_grain(fine[:2], 2, seed=0), 2.0)
    assert used[-1] == 7 and fixed.provenance()["steps"] == 7
    assert "lift_a" not in fixed.provenance() and "release_blur" not in fixed.provenance()  # defaults: not set
    options = load_superresolver("skild", ck_path, consistency="conditioned", lift_a=0.1, release_blur=0.5)
    assert options.provenance()["lift_a"] == 0.1 and options.provenance()["release_blur"] == 0.5
    sr3 = load_superresolver("sr3", "isingsr/models/sr3_L32_s8.pt")
    assert sr3.steps == 150 and sr3.provenance()["steps"] == 150


def test_bf16_precision_changes_the_network_not_the_sampler(model):
    """--precision bf16 on a CPU: the network runs in bf16 (the fields move by bf16's rounding, not more),
    the output records its precision, and float32 stays the CPU default (bit for bit the published tables)."""
    from isingsr.superres import load_superresolver

    d, ck_path, fine = model
    coarse = coarse_grain(fine[:8], 2, seed=0)
    f32 = load_superresolver("skild", ck_path, steps=4, device="cpu")
    bf = load_superresolver("skild", ck_path, steps=4, device="cpu", precision="bf16")
    a, b = f32.superresolve(coarse, 2.0, seed=3), bf.superresolve(coarse, 2.0, seed=3)
    assert f32.provenance()["precision"] == "float32" and bf.provenance()["precision"] == "bf16"
    assert not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    np.testing.assert_array_equal(a, load_superresolver("skild", ck_path, steps=4, device="cpu",
                                                        precision="float32").superresolve(coarse, 2.0, seed=3))
    write_ensemble(d / "cbf.h5", coarse, {"source": "test", "rule": "majority"})
    r = invoke("superres", "--ckpt", ck_path, "--input", d / "cbf.h5", "--scale", 2, "--out", d / "srbf.h5",
               "-n", 4, "--steps", 2, "--precision", "bf16", "-q")
    assert r.exit_code == 0, r.stderr
    assert load_ensemble(d / "srbf.h5").attrs["precision"] == "bf16"
    sr3 = load_superresolver("sr3", "isingsr/models/sr3_L32_s8.pt", precision="bf16", device="cpu")
    assert sr3.autocast and sr3.provenance()["precision"] == "bf16"


def _stop_after(k):
    """A progress callback that interrupts the run (as Ctrl-C would) once k configurations are done."""
    def progress(done, total):
        if done >= k:
            raise KeyboardInterrupt
    return progress


@pytest.fixture
def two_threads():
    """Pieces of 2 configurations at batch 1 (a piece is whole batches on every thread) on any machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _interrupted(ck_path, coarse, out, **kw):
    from isingsr.superres import load_superresolver, partial_path, superresolve_to_file

    sr = load_superresolver(None, ck_path, L=8, steps=kw.pop("steps", 3))
    with pytest.raises(KeyboardInterrupt):
        superresolve_to_file(sr, coarse, 2, out, **{"seed": 7, "batch": 1, "save_fields": True, **kw},
                             progress=_stop_after(5))
    assert not out.exists()
    with h5py.File(partial_path(out)) as f:
        assert f.attrs["n"] == 4 and not f.attrs["complete"] and f["spins"].shape == (4, 8, 8)
    return sr


def test_an_interrupted_superresolution_continues_to_the_file_an_uninterrupted_run_writes(model, tmp_path,
                                                                                           two_threads):
    from isingsr.superres import partial_path, superresolve_to_file

    d, ck_path, fine = model
    coarse = coarse_grain(fine[:16], 2, seed=0)
    out = tmp_path / "sr.h5"
    sr = _interrupted(ck_path, coarse, out)
    messages = []
    superresolve_to_file(sr, coarse, 2, out, seed=7, batch=1, save_fields=True, log=messages.append)
    assert not partial_path(out).exists() and "4 of 16 configurations done" in messages[0]
    whole = superresolve_to_file(sr, coarse, 2, tmp_path / "whole.h5", seed=7, batch=1, save_fields=True)
    with h5py.File(whole) as a, h5py.File(out) as b:
        assert np.array_equal(a["spins"][:], b["spins"][:]) and np.array_equal(a["fields"][:], b["fields"][:])
        assert b.attrs["runs"] == 2 and "runs" not in a.attrs and a.attrs["t_start"] == b.attrs["t_start"]
        assert not partial_path(whole).exists() and a.attrs["n"] == 16
        # the pieces are what one call over every input gives
        assert np.array_equal(a["fields"][:], sr.superresolve(coarse, 2, seed=7, batch=1))


def test_an_interrupted_run_continues_only_with_its_own_arguments(model, tmp_path, two_threads):
    from isingsr.exceptions import InputError
    from isingsr.superres import load_superresolver, partial_path, superresolve_to_file

    d, ck_path, fine = model
    coarse = coarse_grain(fine[:16], 2, seed=0)
    out = tmp_path / "sr.h5"
    sr = _interrupted(ck_path, coarse, out)
    part = partial_path(out)
    stored = part.read_bytes()
    for model_, kw, word in [(sr, {"seed": 8}, "seed"), (sr, {"batch": 2}, "batch"),
                             (sr, {"coarse": coarse[::-1]}, "input_sha256"),
                             (load_superresolver(None, ck_path, L=8, steps=4), {}, "steps"),
                             (sr, {"save_fields": False}, "save_fields")]:
        args = {"seed": 7, "batch": 1, "save_fields": True, "coarse": coarse, **kw}
        with pytest.raises(InputError, match=f"interrupted run with different .*{word}"):
            superresolve_to_file(model_, args.pop("coarse"), 2, out, **args)
    with h5py.File(part, "r+") as f:  # a start time the resolver only states once it has run
        f.attrs["t_start"] = 0.123
    with pytest.raises(InputError, match="different t_start"):
        superresolve_to_file(sr, coarse, 2, out, seed=7, batch=1, save_fields=True)
    with h5py.File(part) as f:
        assert f.attrs["n"] == 4 and f.attrs["t_start"] == 0.123
    part.write_bytes(stored)
    superresolve_to_file(sr, coarse, 2, out, seed=8, batch=1, resume=False)
    assert not part.exists() and load_ensemble(out).attrs["seed"] == 8 and "runs" not in load_ensemble(out).attrs
    from isingsr.io.paths import exclusive
    with exclusive(part):  # as another process running this super-resolution holds it
        with pytest.raises(InputError, match="another super-resolution is writing it"):
            superresolve_to_file(sr, coarse, 2, out, seed=7, batch=1, overwrite=True)
    part.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="unreadable"):
        superresolve_to_file(sr, coarse, 2, out, seed=7, batch=1, overwrite=True)


def test_superres_cli_continues_an_interrupted_run_and_overwrite_discards_it(model, tmp_path, two_threads):
    from isingsr.io.paths import portable_path
    from isingsr.superres import partial_path

    d, ck_path, fine = model
    write_ensemble(tmp_path / "c.h5", coarse_grain(fine[:16], 2, seed=0), {"rule": "majority"})
    args = ["superres", "--ckpt", ck_path, "--input", tmp_path / "c.h5", "--scale", 2, "--steps", 3, "--batch", 1,
            "--seed", 7, "--save-fields"]
    r = invoke(*args, "--out", tmp_path / "ref.h5", "-q")
    assert r.exit_code == 0, r.stderr
    for extra, continued in [((), True), (("--overwrite",), False)]:
        out = tmp_path / f"sr{len(extra)}.h5"
        _interrupted(ck_path, load_ensemble(tmp_path / "c.h5").spins, out, source=portable_path(tmp_path / "c.h5"))
        r = invoke(*args, "--out", out, *extra)
        assert r.exit_code == 0, r.stderr
        assert ("continuing the interrupted run" in r.stderr) == continued and not partial_path(out).exists()
        with h5py.File(tmp_path / "ref.h5") as a, h5py.File(out) as b:
            assert np.array_equal(a["fields"][:], b["fields"][:]) and ("runs" in b.attrs) == continued


def test_correlate_continues_an_interrupted_skild_run(model, tmp_path, two_threads, monkeypatch):
    """Repeating an interrupted isingsr correlate continues SKILD from its OUT/skild.h5.partial, to the same file."""
    import json

    from isingsr.correlate import correlate

    d, ck, _ = model
    truth = tmp_path / "truth.h5"
    write_ensemble(truth, sample_configurations(8, 24, seed=9), {"beta": BETA_C, "source": "test"})
    monkeypatch.setattr("isingsr.superres.auto_batch", lambda L: 1)  # pieces of 2 configurations

    def run(out, progress=None, log=lambda s: None):
        return correlate(2, truth=truth, out=out, methods=["skild", "naive"], ckpts={"skild": ck}, steps=3,
                         blocks=4, progress=progress, log=log)
    ref = run(tmp_path / "ref")

    def stop(stage, done, total):
        if done >= 5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "out", stop)
    messages = []
    again = run(tmp_path / "out", log=messages.append)
    assert any("continuing the interrupted run" in m and "4 of 24" in m for m in messages)
    with h5py.File(tmp_path / "ref" / "skild.h5") as a, h5py.File(tmp_path / "out" / "skild.h5") as b:
        assert np.array_equal(a["spins"][:], b["spins"][:]) and b.attrs["runs"] == 2
    assert json.dumps(again["comparison"], sort_keys=True) == json.dumps(ref["comparison"], sort_keys=True)
