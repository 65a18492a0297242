"""Command line: help with examples, the info --json contract, one-line errors."""

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from isingsr.cli import cli, fmt_err
from isingsr.io.hdf5 import write_ensemble
from isingsr.mc.exact import kaufman_energy

CONTRACT = ("L", "n", "beta", "energy", "energy_err", "abs_m", "abs_m_err", "chi", "chi_err", "binder",
            "binder_err", "tau_int_E", "tau_int_absm")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, fragment):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("isingsr: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "L16.h5"
    r = invoke("generate", "--L", 16, "-n", 2000, "--out", out, "--seed", 3, "--workers", 2)
    assert r.exit_code == 0, r.stderr
    return out


@pytest.mark.parametrize("cmd", [[], ["generate"], ["info"], ["correlate"], ["coarsen"], ["train"], ["sample"],
                                 ["superres"], ["merge"]])
def test_help_has_examples(cmd):
    r = invoke(*cmd, "--help")
    assert r.exit_code == 0 and "Examples:" in r.output


def test_generate_reports_what_it_wrote(ensemble):
    r = invoke("generate", "--L", 8, "-n", 10, "--out", ensemble.parent / "small.h5")
    assert r.exit_code == 0
    assert "wrote" in r.stderr and "thermalising" in r.stderr


def test_info_json_contract_and_physics(ensemble):
    r = invoke("info", ensemble, "--json")
    assert r.exit_code == 0
    s = json.loads(r.output)
    for key in CONTRACT:
        assert key in s, key
    assert s["L"] == 16 and s["n"] == 2000
    u, _ = kaufman_energy(16)
    assert abs(s["energy"] - u) < 4 * s["energy_err"]
    assert s["exact"]["energy"] == pytest.approx(u)
    assert s["tau_int_E"] > 0.5 and s["attrs"]["complete"] is True


def test_info_text(ensemble):
    r = invoke("info", ensemble)
    assert r.exit_code == 0
    assert "16 x 16" in r.output and "Binder U4" in r.output and "sigma" in r.output


def test_info_on_derived_ensemble_shows_no_exact_values(tmp_path):
    spins = np.where(np.random.default_rng(0).random((5, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    write_ensemble(tmp_path / "d.h5", spins, {"source": "x.h5", "rule": "majority", "scale": 2, "beta": 0.44})
    s = json.loads(invoke("info", tmp_path / "d.h5", "--json").output)
    assert s["n"] == 5 and s["exact"] == {} and s["tau_int_E"] is None


def h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


@pytest.mark.parametrize("make,fragment", [
    (lambda p: p / "missing.h5", "no such file"),
    (lambda p: p, "is a directory"),
    (lambda p: (p / "t.txt").write_text("hello") and p / "t.txt", "not an HDF5 file"),
    (lambda p: h5(p / "a.h5", other=np.zeros(3)), "no 'spins' dataset"),
    (lambda p: h5(p / "b.h5", spins=np.ones((3, 4, 5), np.int8)), "expected (N, L, L)"),
    (lambda p: h5(p / "c.h5", spins=np.ones((3, 4, 4), np.float32)), "dtype float32"),
    (lambda p: h5(p / "d.h5", spins=np.zeros((3, 4, 4), np.int8)), "must be +-1"),
    (lambda p: h5(p / "e.h5", spins=np.ones((0, 4, 4), np.int8)), "empty"),
])
def test_info_bad_input_one_line(tmp_path, make, fragment):
    assert_one_line_error(invoke("info", make(tmp_path)), fragment)


def test_info_corrupt_file(tmp_path, ensemble):
    data = ensemble.read_bytes()
    bad = tmp_path / "trunc.h5"
    bad.write_bytes(data[: len(data) // 2])
    r = invoke("info", bad)
    assert r.exit_code != 0 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--L", 3, "-n", 10], "--L"),
    (["--L", 8, "-n", 0], "-n"),
    (["--L", 8, "-n", 10, "--beta", 0], "--beta"),
    (["--L", 8, "-n", 10, "--beta", -0.2], "--beta"),
    (["--L", "x", "-n", 10], "--L"),
    (["-n", 10], "--L is required"),
    (["--L", 8, "-n", 10, "--workers", 0], "--workers"),
    (["--L", 8, "-n", 10, "--append", "--overwrite"], "exclude"),
])
def test_generate_bad_input_one_line(tmp_path, args, fragment):
    out = tmp_path / "o.h5"
    assert_one_line_error(invoke("generate", *args, "--out", out), fragment)
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_existing_and_missing_dir(tmp_path, ensemble):
    assert_one_line_error(invoke("generate", "--L", 8, "-n", 5, "--out", ensemble), "--overwrite")
    assert_one_line_error(invoke("generate", "--L", 8, "-n", 5, "--out", tmp_path / "no" / "x.h5"),
                          "no such directory")
    assert_one_line_error(invoke("generate", "-n", 5, "--append", "--out", tmp_path / "none.h5"), "no such file")


def test_unknown_command_is_one_line():
    assert_one_line_error(invoke("frobnicate"), "No such command")


def test_fmt_err():
    assert fmt_err(-1.419435, 0.00046) == "-1.41944 ± 0.00046"
    assert fmt_err(5359.8, 29.7) == "5360 ± 30"
    assert fmt_err(None, None) == "n/a"
    assert fmt_err(float("nan"), float("nan")) == "n/a"  # e.g. tau_int of two configurations


def test_correlate_end_to_end(tmp_path, ensemble):
    out = tmp_path / "figs"
    r = invoke("correlate", "--truth", ensemble, "--scale", 2, "--out", out, "--quiet", "--r", "1,2,4",
               "--methods", "naive")
    assert r.exit_code == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert set(s["ensembles"]) == {"truth", "naive"} and s["ensembles"]["truth"]["r"] == [1, 2, 4]
    assert "naive" in r.output and (out / "g4c.pdf").exists()


def test_correlate_pairs_a_super_resolved_file_and_prints_undefined_numbers(tmp_path, ensemble):
    """A file with one configuration per truth configuration and no chains is paired with the truth;
    an exact copy then has zero residual and zero error, so its chi^2 is undefined ('—'), not a crash."""
    from isingsr.io.hdf5 import load_ensemble

    copy = write_ensemble(tmp_path / "copy.h5", load_ensemble(ensemble).spins, {"protocol": "coarse"})
    out = tmp_path / "figs"
    r = invoke("correlate", "--truth", ensemble, "--scale", 2, "--out", out, "--quiet", "--r", "1,2",
               "--methods", "naive", "--candidate", f"copy={copy}")
    assert r.exit_code == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["comparison"]["copy"]["errors"] == "paired" and s["comparison"]["copy"]["g4c_chi2_dof"] is None
    assert s["comparison"]["naive"]["g4c_p_value"] < 1e-3
    row = next(line for line in r.output.splitlines() if line.startswith("copy"))
    assert "—" in row and "0.0000" in row


@pytest.mark.parametrize("extra,fragment", [
    (["--candidate", "oops"], "NAME=FILE"),
    (["--candidate", "truth=x.h5"], "reserved"),
    (["--r", "a,b"], "--r"),
    (["--r", "0,1"], ">= 1"),
    (["--scale", 0.5], "--scale"),
    (["--scale", 64], "scale"),  # coarser than the lattice
    (["--start-blur", 0], "--start-blur"),
])
def test_correlate_bad_input_one_line(tmp_path, ensemble, extra, fragment):
    args = ["correlate", "--truth", ensemble, "--out", tmp_path / "f", "--quiet", "--methods", "naive"]
    if "--scale" not in extra:
        args += ["--scale", 2]
    assert_one_line_error(invoke(*args, *extra), fragment)


def test_correlate_mismatched_sizes_and_missing_files(tmp_path, ensemble):
    other = tmp_path / "L8.h5"
    assert invoke("generate", "--L", 8, "-n", 50, "--out", other, "-q").exit_code == 0
    base = ["correlate", "--truth", ensemble, "--scale", 2, "--out", tmp_path / "f", "--quiet", "--methods", "naive"]
    assert_one_line_error(invoke(*base, "--candidate", f"x={other}"), "L")
    assert_one_line_error(invoke(*base, "--candidate", f"x={tmp_path / 'none.h5'}"), "no such file")
    assert_one_line_error(invoke("correlate", "--truth", tmp_path / "none.h5", "--scale", 2, "--out",
                                 tmp_path / "f"), "no such file")


def test_correlate_default_runs_end_to_end_with_the_shipped_model(tmp_path, monkeypatch):
    """`isingsr correlate --scale 4` on shipped defaults (here with a small truth and few steps)."""
    monkeypatch.setenv("ISINGSR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "figs"
    r = invoke("correlate", "--scale", 4, "-n", 40, "--steps", 3, "--r", "1,2", "--out", out, "-q")
    assert r.exit_code == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    from isingsr.models import shipped_baseline

    shipped = {m for m in ("sr3", "cnn") if shipped_baseline(m, 32, 4) is not None}
    assert set(s["ensembles"]) == {"truth", "naive", "skild", "posterior"} | shipped and s["L"] == 32
    assert set(s["conditional"]["scores"]) == set(s["ensembles"])
    assert 0.5 < s["comparison"]["skild"]["consistency"] <= 1.0
    assert (tmp_path / "cache" / "truth_L32_n40_seed12345.h5").exists()  # cached for the next run
    r2 = invoke("correlate", "--scale", 4, "-n", 40, "--methods", "naive", "--r", "1,2", "--collinear", "--out", out,
                "-q")
    assert r2.exit_code == 0 and "from cache" not in r2.stderr  # quiet
    s2 = json.loads((out / "summary.json").read_text())
    assert len(s2["ensembles"]["truth"]["g4c_col"]) == 2 and s2["comparison"]["naive"]["g4c_col_p_value"] < 0.05
    assert (out / "g4c_col.png").exists() and "col. p" in r2.stdout
    assert {row.split(",")[1] for row in (out / "correlations.csv").read_text().splitlines()[1:]} == \
        {"g2", "g4c", "g4c_col"}
