"""HDF5 ensembles from `generate`: schema, round trip, append, crash safety."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import isingsr.mc.generate as gen
from isingsr.analysis.scalars import energy_magnetization
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble, write_ensemble

SCHEMA = ("L", "beta", "J", "boundary", "algorithm", "seed", "chains", "updates_between", "sweeps_between",
          "thermalization_sweeps", "thermalization_updates", "mean_cluster_size", "tau_int_E", "tau_int_E_err",
          "tau_int_absm", "tau_int_absm_err", "isingsr_version", "created", "n", "complete", "format",
          "spin_encoding", "rng")


def make(path, n=300, L=8, **kw):
    kw.setdefault("chains", 3)
    kw.setdefault("seed", 1)
    return gen.generate(path, L, n, **kw)


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("spins", "energy", "magnetization", "chain", "update")}


def test_schema_and_round_trip(tmp_path):
    out = tmp_path / "e.h5"
    attrs = make(out, n=301)
    assert not (tmp_path / "e.h5.partial").exists()
    for key in SCHEMA:
        assert key in attrs, key
    assert attrs["n"] == 301 and attrs["complete"] and attrs["boundary"] == "periodic"
    ens = load_ensemble(out)
    assert ens.spins.shape == (301, 8, 8) and ens.spins.dtype == np.int8
    data = read(out)
    e, m = energy_magnetization(ens.spins)
    np.testing.assert_allclose(e, data["energy"])
    np.testing.assert_allclose(m, data["magnetization"])
    assert np.bincount(data["chain"]).tolist() == [101, 100, 100]
    with h5py.File(out, "r") as f:
        assert f["spins"].compression == "gzip" and f["spins"].chunks is not None


def test_workers_do_not_change_the_file(tmp_path):
    make(tmp_path / "a.h5", workers=1)
    make(tmp_path / "b.h5", workers=2)
    a, b = read(tmp_path / "a.h5"), read(tmp_path / "b.h5")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_append_continues_the_chains(tmp_path):
    make(tmp_path / "one.h5", n=300, chains=2)
    make(tmp_path / "two.h5", n=200, chains=2)
    attrs = gen.generate(tmp_path / "two.h5", None, 100, append=True)
    assert attrs["n"] == 300
    one, two = read(tmp_path / "one.h5"), read(tmp_path / "two.h5")
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])


def test_append_checks(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        gen.generate(tmp_path / "none.h5", 8, 10, append=True)
    make(tmp_path / "x.h5", n=20, chains=1)
    with pytest.raises(InputError, match="L=8"):
        gen.generate(tmp_path / "x.h5", 16, 10, append=True)
    write_ensemble(tmp_path / "derived.h5", np.ones((2, 8, 8), np.int8), {"source": "x"})
    with pytest.raises(InputError, match="cannot continue"):
        gen.generate(tmp_path / "derived.h5", None, 10, append=True)


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "e.h5"
    make(out, n=20)
    with pytest.raises(InputError, match="exists"):
        make(out, n=20)
    attrs = make(out, n=30, overwrite=True)
    assert attrs["n"] == 30 and load_ensemble(out).n == 30


def test_interrupted_run_resumes_to_the_same_file(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "ROUND_BYTES", 3 * 64 * 20)  # 20 samples per chain per round
    make(tmp_path / "ref.h5")
    calls = []

    def stop_after_two(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "run.h5"
    with pytest.raises(KeyboardInterrupt):
        make(out, progress=stop_after_two)
    assert not out.exists() and (tmp_path / "run.h5.partial").exists()
    assert load_ensemble(tmp_path / "run.h5.partial").n == 120  # only complete rounds are visible
    with pytest.raises(InputError, match="different"):
        make(out, seed=2)  # another command must not silently continue it
    make(out)
    ref, got = read(tmp_path / "ref.h5"), read(out)
    for k in ref:
        np.testing.assert_array_equal(ref[k], got[k])


def test_killed_process_leaves_a_resumable_file(tmp_path):
    """SIGKILL mid-run: no final file, a valid partial one, and resuming equals an uninterrupted run."""
    script = textwrap.dedent(f"""
        import sys, time
        import isingsr.mc.generate as g
        g.ROUND_BYTES = 2 * 256 * 10
        def progress(done, total):
            print(done, flush=True)
            time.sleep(0.05)
        g.generate({str(tmp_path / 'k.h5')!r}, 16, 400, chains=2, seed=3, progress=progress)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(4):
        line = proc.stdout.readline()
        assert line, "generator exited early"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "k.h5").exists()
    assert load_ensemble(tmp_path / "k.h5.partial").n >= 80
    assert (tmp_path / "k.h5.partial.lock").exists()  # left behind by the killed run, but its lock died with it
    gen.generate(tmp_path / "k.h5", 16, 400, chains=2, seed=3)
    assert not (tmp_path / "k.h5.partial.lock").exists()
    gen.generate(tmp_path / "ref.h5", 16, 400, chains=2, seed=3)
    ref, got = read(tmp_path / "ref.h5"), read(tmp_path / "k.h5")
    for k in ref:
        np.testing.assert_array_equal(ref[k], got[k])


def test_a_second_run_on_the_same_file_is_one_line_while_the_first_runs(tmp_path):
    from isingsr.io.paths import exclusive

    with exclusive(tmp_path / "x.h5.partial", "isingsr generate"):  # as a running generate holds it
        with pytest.raises(InputError, match="another isingsr generate is writing it"):
            make(tmp_path / "x.h5", n=10)
        with pytest.raises(InputError, match="another"):
            with exclusive(tmp_path / "x.h5.partial"):
                pass
    assert not (tmp_path / "x.h5.partial.lock").exists()
    make(tmp_path / "x.h5", n=10)
    assert load_ensemble(tmp_path / "x.h5").n == 10


def test_unreadable_partial_is_reported(tmp_path):
    (tmp_path / "e.h5.partial").write_text("garbage")
    with pytest.raises(InputError, match="unreadable"):
        make(tmp_path / "e.h5", n=10)
    make(tmp_path / "e.h5", n=10, overwrite=True)


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=2.5), dict(L=3), dict(beta=0.0)])
def test_bad_parameters_write_nothing(tmp_path, bad):
    args = dict(n=10, L=8) | bad
    with pytest.raises(InputError):
        gen.generate(tmp_path / "e.h5", args.pop("L"), args.pop("n"), **args)
    assert list(tmp_path.iterdir()) == []


def test_output_directory_must_exist(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        make(tmp_path / "missing" / "e.h5", n=10)


def test_a_recorded_path_names_the_same_file_again(tmp_path, monkeypatch):
    """What a result file records as its source (``portable_path``) finds that file (``local_path``): in the
    cache, in the package, relative to the working directory, elsewhere."""
    from isingsr.io.paths import cache_dir, local_path, portable_path
    from isingsr.models import shipped_checkpoint

    monkeypatch.setenv("ISINGSR_CACHE", str(tmp_path / "cache"))
    (tmp_path / "work" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    outside = tmp_path / "elsewhere.h5"
    for f in (cache_dir() / "truth.h5", tmp_path / "work" / "data" / "x.h5", outside, Path(shipped_checkpoint(32))):
        if not f.exists():
            f.touch()
        recorded = portable_path(f)
        assert local_path(recorded).resolve() == f.resolve(), recorded
    assert portable_path(cache_dir() / "truth.h5") == "$ISINGSR_CACHE/truth.h5"
    assert portable_path(tmp_path / "work" / "data" / "x.h5") == "data/x.h5"
