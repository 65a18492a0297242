"""Sharded Monte Carlo runs (generate --shard/--nshards) and their exact merge."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import isingsr.mc.generate as gen
import isingsr.mc.merge as merge_mod
from isingsr.exceptions import InputError
from isingsr.info import ensemble_summary
from isingsr.mc.merge import merge_shards

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("spins", "energy", "magnetization", "chain", "update", "state/spins", "state/rng", "state/updates",
            "state/saved", "state/target")
#: Attributes that may differ between a merged file and the one-process run: time stamps, the merge record.
VOLATILE = {"created", "modified", "merged_shards"}


def run(path, n=301, L=8, chains=5, seed=4, **kw):
    return gen.generate(path, L, n, chains=chains, seed=seed, **kw)


def shards(tmp_path, nshards, **kw):
    paths = [tmp_path / f"shard_{i}.h5" for i in range(nshards)]
    for i, p in enumerate(paths):
        run(p, shard=i, nshards=nshards, **kw)
    return paths


def assert_same_file(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in DATASETS:
            assert fa[name].dtype == fb[name].dtype, name
            assert fa[name].chunks == fb[name].chunks and fa[name].compression == fb[name].compression, name
            np.testing.assert_array_equal(fa[name][:], fb[name][:], err_msg=name)
        ka, kb = set(fa.attrs) - VOLATILE, set(fb.attrs) - VOLATILE
        assert ka == kb
        for k in ka:
            assert np.array_equal(fa.attrs[k], fb.attrs[k]), k


@pytest.mark.parametrize("nshards", [2, 5])
def test_merged_shards_equal_one_run_bit_for_bit(tmp_path, monkeypatch, nshards):
    # Several rounds per shard and several merge blocks, with chains of unequal length (301 = 5 * 60 + 1).
    monkeypatch.setattr(gen, "ROUND_BYTES", 5 * 64 * 7)
    monkeypatch.setattr(merge_mod, "ROUND_BYTES", 5 * 64 * 11)
    run(tmp_path / "one.h5")
    paths = shards(tmp_path, nshards)
    attrs = merge_shards(tmp_path / "all.h5", list(reversed(paths)))
    assert attrs["n"] == 301 and attrs["complete"] and attrs["merged_shards"] == nshards
    assert_same_file(tmp_path / "one.h5", tmp_path / "all.h5")
    s = ensemble_summary(tmp_path / "all.h5")  # the merged file passes info
    assert s["n"] == 301 and s["tau_int_E"] is not None


def test_each_shard_holds_its_block_of_chains(tmp_path):
    paths = shards(tmp_path, 2)
    with h5py.File(paths[0], "r") as f0, h5py.File(paths[1], "r") as f1:
        assert sorted(set(f0["chain"][:])) == [0, 1] and sorted(set(f1["chain"][:])) == [2, 3, 4]
        assert f0.attrs["n"] + f1.attrs["n"] == 301 and f1.attrs["chain_offset"] == 2
        assert f0.attrs["updates_between"] == f1.attrs["updates_between"]  # chosen from all chains


def test_merged_file_appends_like_one_run(tmp_path):
    run(tmp_path / "one.h5", n=200)
    gen.generate(tmp_path / "one.h5", None, 57, append=True)
    merge_shards(tmp_path / "all.h5", shards(tmp_path, 3, n=200))
    gen.generate(tmp_path / "all.h5", None, 57, append=True)
    assert_same_file(tmp_path / "one.h5", tmp_path / "all.h5")


def test_killed_shard_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "ROUND_BYTES", 2 * 64 * 10)
    paths = shards(tmp_path, 2)
    ref = tmp_path / "ref.h5"
    shutil.copy(paths[1], ref)
    paths[1].unlink()

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(paths[1], shard=1, nshards=2, progress=stop)
    with pytest.raises(InputError, match="rerun that shard's generate command"):
        merge_shards(tmp_path / "all.h5", paths)
    with pytest.raises(InputError, match="different shard"):
        run(paths[1], shard=0, nshards=2)  # another shard's command must not continue it
    run(paths[1], shard=1, nshards=2)
    with h5py.File(ref, "r") as a, h5py.File(paths[1], "r") as b:
        for name in DATASETS:
            np.testing.assert_array_equal(a[name][:], b[name][:])


def test_mismatched_shards_are_refused(tmp_path):
    paths = shards(tmp_path, 3)
    other = tmp_path / "other"
    other.mkdir()
    run(other / "seed5_1.h5", seed=5, shard=1, nshards=3)
    run(other / "L16_1.h5", L=16, shard=1, nshards=3)
    run(other / "n400_1.h5", n=400, shard=1, nshards=3)
    run(other / "of2_1.h5", shard=1, nshards=2)
    cases = [
        ([paths[0], other / "seed5_1.h5", paths[2]], "seed"),
        ([paths[0], other / "L16_1.h5", paths[2]], "L = 16"),
        ([paths[0], other / "n400_1.h5", paths[2]], "n_target"),
        ([paths[0], other / "of2_1.h5", paths[2]], "nshards"),
        ([paths[0], paths[2]], "missing shard"),
        ([paths[0], paths[1], paths[1], paths[2]], "given twice"),
        ([paths[0], paths[1], tmp_path / "nope.h5"], "no such file"),
        ([], "no shard files"),
        ([tmp_path / "one.h5"], "not a shard"),
    ]
    run(tmp_path / "one.h5")
    for given, message in cases:
        with pytest.raises(InputError, match=message):
            merge_shards(tmp_path / "all.h5", given)
        assert not (tmp_path / "all.h5").exists() and not (tmp_path / "all.h5.tmp").exists()
    with pytest.raises(InputError, match="also one of the shards"):
        merge_shards(paths[0], paths, overwrite=True)


def test_shard_options_are_checked(tmp_path):
    with pytest.raises(InputError, match="shard"):
        run(tmp_path / "a.h5", shard=3, nshards=3)
    with pytest.raises(InputError, match="more than the run's 5 chains"):
        run(tmp_path / "a.h5", shard=0, nshards=6)
    path = shards(tmp_path, 2)[0]
    with pytest.raises(InputError, match="merge the shards first"):
        gen.generate(path, None, 10, append=True)
    assert not list(tmp_path.glob("a.h5*"))


@pytest.mark.parametrize("script", ["scripts/generate_local.sh", "scripts/slurm_generate.sh"])
def test_example_scripts_run_at_toy_size(tmp_path, script):
    """The shipped sharding examples, at toy size, produce the one-process file (SLURM faked by its variables)."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "L": "8", "N": "301", "CHAINS": "5",
           "NSHARDS": "3", "SEED": "4", "OUT": str(tmp_path / "all.h5"), "SHARD_DIR": str(tmp_path / "shards"),
           "OMP_NUM_THREADS": "1"}
    if script.endswith("slurm_generate.sh"):
        for i in range(3):  # each array task, as srun would start it
            subprocess.run(["bash", str(ROOT / script)], env={**env, "SLURM_ARRAY_TASK_ID": str(i),
                                                                "SLURM_ARRAY_TASK_COUNT": "3"}, check=True)
        subprocess.run(["bash", str(ROOT / script), "merge"], env=env, check=True)
    else:
        subprocess.run(["bash", str(ROOT / script)], env=env, check=True)
    run(tmp_path / "one.h5")
    assert_same_file(tmp_path / "one.h5", tmp_path / "all.h5")
