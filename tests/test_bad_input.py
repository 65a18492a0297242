"""Every command against the malformed input a user meets: one clear line, a non-zero exit, no file left
under the output's name (nor its temporary name)."""

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import isingsr.io.paths as paths_mod
from isingsr.cli import cli
from isingsr.io.hdf5 import write_ensemble
from isingsr.mc import sample_configurations
from isingsr.mc.generate import generate

MODELS = Path(__file__).resolve().parents[1] / "isingsr" / "models"
SKILD, SR3, CNN = MODELS / "skild_L32.pt", MODELS / "sr3_L32_s4.pt", MODELS / "cnn_L32_s4.pt"


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "text.h5").write_text("not hdf5")
    write_ensemble(d / "L32.h5", sample_configurations(32, 24, seed=1), {"beta": 0.4406867935})
    write_ensemble(d / "L8.h5", np.where(np.random.default_rng(0).random((4, 8, 8)) < 0.5, -1, 1).astype(np.int8),
                   {"rule": "majority"})
    generate(d / "mc.h5", 8, 20, chains=2, seed=1)
    raw = SKILD.read_bytes()
    (d / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    flipped = bytearray(raw)
    for i in range(len(raw) // 3, len(raw) // 3 + 64):  # inside the weights: torch.load alone would not notice
        flipped[i] ^= 0x5A
    (d / "corrupt.pt").write_bytes(bytes(flipped))
    ck = torch.load(SKILD, weights_only=True)
    name = next(k for k, w in ck["ema"].items() if w.is_floating_point())
    ck["ema"][name][0] = float("nan")
    torch.save(ck, d / "nan.pt")
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    (d / "readonly").mkdir()
    return SimpleNamespace(
        dir=d, missing=d / "missing.h5", text=d / "text.h5", nospins=_h5(d / "nospins.h5", other=np.zeros(3)),
        notpm=_h5(d / "zeros.h5", spins=np.zeros((3, 8, 8), np.int8)),
        notsquare=_h5(d / "rect.h5", spins=np.ones((3, 8, 16), np.int8)),
        empty=_h5(d / "empty.h5", spins=np.ones((0, 8, 8), np.int8)), L32=d / "L32.h5", L8=d / "L8.h5",
        mc=d / "mc.h5", truncated=d / "truncated.pt", corrupt=d / "corrupt.pt", nan=d / "nan.pt",
        foreign=d / "foreign.pt", notadir=d / "text.h5" / "out.h5")


BAD_ENSEMBLES = [("missing", "no such file"), ("text", "not an HDF5 file"), ("nospins", "no 'spins' dataset"),
                 ("notpm", "must be +-1"), ("notsquare", "expected (N, L, L)"), ("empty", "empty")]
BAD_CHECKPOINTS = [("missing", "no such checkpoint"), ("text", "not a readable checkpoint (not a file torch wrote"),
                   ("truncated", "a truncated torch file"), ("corrupt", "checksum mismatch"),
                   ("nan", "not finite"), ("foreign", "not an isingsr checkpoint"),
                   ("L32", "an HDF5 file, i.e. an ensemble")]


def ensemble_cases():
    """(command, args(f, out), expected fragment) for every command that reads an ensemble."""
    for key, frag in BAD_ENSEMBLES:
        yield "info", lambda f, o, k=key: ["info", getattr(f, k)], frag
        yield "coarsen", lambda f, o, k=key: ["coarsen", "--input", getattr(f, k), "--scale", 2, "--out", o], frag
        yield "train", lambda f, o, k=key: ["train", "--data", getattr(f, k), "--out", o, "--steps", 1], frag
        yield "superres", lambda f, o, k=key: ["superres", "--ckpt", SKILD, "--input", getattr(f, k),
                                                 "--scale", 4, "--out", o], frag
        yield "correlate", lambda f, o, k=key: ["correlate", "--truth", getattr(f, k), "--scale", 2,
                                                  "--methods", "naive", "--out", o, "-q"], frag
    for key, frag in [("missing", "no such file"), ("text", "not an HDF5 file"), ("nospins", "not a Monte Carlo"),
                      ("L32", "not a Monte Carlo"), ("mc", "not a shard")]:
        yield "merge", lambda f, o, k=key: ["merge", "--out", o, getattr(f, k)], frag


def checkpoint_cases():
    for key, frag in BAD_CHECKPOINTS:
        yield "sample", lambda f, o, k=key: ["sample", "--ckpt", getattr(f, k), "-n", 2, "--out", o], frag
        yield "superres", lambda f, o, k=key: ["superres", "--ckpt", getattr(f, k), "--input", f.L8, "--scale", 4,
                                                 "--out", o], frag
        yield "correlate", lambda f, o, k=key: ["correlate", "--truth", f.L32, "--scale", 4, "--methods", "skild",
                                                  "--ckpt", getattr(f, k), "--out", o, "-q"], frag


MISMATCH_CASES = [
    # a checkpoint of another kind
    ("sample", lambda f, o: ["sample", "--ckpt", SR3, "-n", 2, "--out", o], "a sr3 checkpoint, not SKILD"),
    ("sample", lambda f, o: ["sample", "--ckpt", CNN, "-n", 2, "--out", o], "a cnn checkpoint, not SKILD"),
    ("correlate", lambda f, o: ["correlate", "--truth", f.L32, "--scale", 4, "--methods", "skild", "--ckpt", SR3,
                                "--out", o, "-q"], "not SKILD"),
    # scale or size that does not fit the checkpoint or the input
    ("superres", lambda f, o: ["superres", "--ckpt", SR3, "--input", f.L8, "--scale", 2, "--out", o],
     "trained for scale 4, not 2"),
    ("superres", lambda f, o: ["superres", "--ckpt", CNN, "--input", f.L8, "--scale", 2.5, "--out", o],
     "trained for scale 4, not 2.5"),
    ("correlate", lambda f, o: ["correlate", "--truth", f.L32, "--scale", 2, "--methods", "cnn", "--cnn-ckpt", CNN,
                                "--out", o, "-q"], "trained for scale 4, not 2"),
    ("superres", lambda f, o: ["superres", "--ckpt", SKILD, "--input", f.L8, "--scale", 4, "--L", 20, "--out", o],
     "does not match"),
    ("superres", lambda f, o: ["superres", "--ckpt", SKILD, "--input", f.L8, "--scale", 2, "--start", "forward",
                               "--fine", f.L32, "--out", o], "expected shape (4, 16, 16)"),
    ("superres", lambda f, o: ["superres", "--ckpt", SKILD, "--input", f.L8, "--scale", 4, "--particles", 4,
                               "--consistency", "project", "--out", o], "sequential Monte Carlo runs the ancestral"),
    ("superres", lambda f, o: ["superres", "--ckpt", SKILD, "--input", f.L8, "--scale", 4, "--particles", 0,
                               "--out", o], "Invalid value for '--particles'"),
    ("train", lambda f, o: ["train", "--data", f.L32, "--out", o, "--method", "cnn", "--scale", 3, "--steps", 1],
     "integer scale >= 2 dividing L = 32"),
    ("coarsen", lambda f, o: ["coarsen", "--input", f.L32, "--scale", 2.5, "--rule", "decimation", "--out", o],
     "needs an integer scale"),
    ("correlate", lambda f, o: ["correlate", "--truth", f.L32, "--scale", 64, "--methods", "naive", "--out", o, "-q"],
     "larger than L"),
    ("merge", lambda f, o: ["merge", "--out", o, f.missing, f.mc], "no such file"),
]

OUTPUT_CASES = [  # outputs that cannot be written: refused before any work
    ("generate", lambda f, o: ["generate", "--L", 8, "-n", 10, "--out", o], None),
    ("coarsen", lambda f, o: ["coarsen", "--input", f.L32, "--scale", 2, "--out", o], None),
    ("sample", lambda f, o: ["sample", "--ckpt", SKILD, "-n", 2, "--out", o], None),
    ("superres", lambda f, o: ["superres", "--ckpt", SKILD, "--input", f.L8, "--scale", 4, "--out", o], None),
    ("train", lambda f, o: ["train", "--data", f.L32, "--out", o, "--steps", 1], None),
    ("correlate", lambda f, o: ["correlate", "--truth", f.L32, "--scale", 2, "--methods", "naive", "--out", o, "-q"],
     None),
]

TABLE = [*ensemble_cases(), *checkpoint_cases(), *MISMATCH_CASES]
COMMANDS = ("generate", "info", "coarsen", "train", "sample", "superres", "correlate", "merge")


def run(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_refused(result, fragment=None):
    """A non-zero exit and one error line, the last one (progress messages may come before it)."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code not in (0, None) and not isinstance(result.exception, (AssertionError, TypeError)), \
        (result.exit_code, result.exception)
    errors = [ln for ln in lines if ln.startswith("isingsr: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output + result.stderr
    if fragment:
        assert fragment in errors[0], errors[0]


def assert_nothing_written(out: Path):
    leftovers = [p.name for p in out.parent.glob(out.name + "*")]
    assert leftovers == [], leftovers


def test_every_command_is_in_the_table():
    covered = {c for c, _, _ in TABLE + OUTPUT_CASES}
    assert covered == set(COMMANDS)


@pytest.mark.parametrize("case", range(len(TABLE)), ids=lambda i: f"{TABLE[i][0]}-{i}")
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, case):
    command, args, fragment = TABLE[case]
    out = tmp_path / ("out" if command in ("train", "correlate") else "out.h5")
    assert_refused(run(args(files, out)), fragment)
    assert_nothing_written(out)


@pytest.mark.parametrize("case", range(len(OUTPUT_CASES)), ids=lambda i: OUTPUT_CASES[i][0])
def test_unwritable_output_is_refused_before_any_work(files, tmp_path, case):
    command, args, _ = OUTPUT_CASES[case]
    assert_refused(run(args(files, files.notadir)), "not a directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root: permissions do not bind; a read-only file system would
            pytest.skip("running as root: a read-only folder is writable")
        target = ro / ("out" if command in ("train", "correlate") else "out.h5")
        assert_refused(run(args(files, target)), "cannot write there")
        assert_nothing_written(target)
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("case", range(len(OUTPUT_CASES)), ids=lambda i: OUTPUT_CASES[i][0])
def test_full_disk_is_one_line_and_leaves_no_output(files, tmp_path, monkeypatch, case):
    """A disk with 1 MiB free (shutil.disk_usage faked): the write is refused before HDF5 or torch starts it."""
    command, args, _ = OUTPUT_CASES[case]
    monkeypatch.setattr(paths_mod.shutil, "disk_usage", lambda p: SimpleNamespace(total=2 << 20, used=1 << 20,
                                                                                   free=1 << 20))
    out = tmp_path / ("out" if command in ("train", "correlate") else "out.h5")
    extra = ["--steps", 1] if command in ("sample", "superres") else []
    assert_refused(run(args(files, out) + extra), "disk nearly full")
    if command == "generate":  # the interrupted run stays resumable, never under the final name
        assert not out.exists()
    elif command in ("train", "correlate"):
        assert not (out / "checkpoint.pt").exists() and not (out / "summary.json").exists()
    else:
        assert_nothing_written(out)


def test_write_failing_mid_run_ends_cleanly(tmp_path):
    """A file-size limit makes HDF5's own write fail half-way (as a full disk would, after the check):
    the process ends with an error line and status 1, not a crash, and no file has the final name."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "big.h5"
    args = ["generate", "--L", "64", "-n", "2000", "--chains", "2", "--out", str(out), "-q"]
    r = subprocess.run([sys.executable, "-c", "import sys; from isingsr.cli import main; sys.argv[0] = 'isingsr'; "
                        "main()", *args], preexec_fn=limit, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr[-500:]
    assert r.stderr.strip().splitlines()[-1].startswith("isingsr: error: ")
    assert not out.exists()
