"""End to end: run_correlate on small ensembles written to disk."""

import csv
import json

import h5py
import numpy as np
import pytest

from isingsr.analysis.report import run_correlate
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import write_ensemble

ENSEMBLE_KEYS = {"n", "r", "r2", "g2", "g2_err", "g4c", "g4c_err", "energy", "energy_err", "abs_m", "abs_m_err",
                 "binder", "binder_err", "chi", "chi_err"}
COMPARISON_KEYS = {"g2_chi2_dof", "g4c_chi2_dof", "g2_max_abs_dev", "g4c_max_abs_dev", "consistency", "errors",
                   "g2_p_value",
                   "g4c_p_value", "g2_p_dof", "g4c_p_dof"}


def spins(n, L, seed):
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))


@pytest.fixture
def files(tmp_path):
    truth = write_ensemble(tmp_path / "truth.h5", spins(120, 16, 1), {"algorithm": "test", "beta": 0.44})
    copy = write_ensemble(tmp_path / "copy.h5", spins(120, 16, 1), {"protocol": "coarse", "method": "identity"})
    other = write_ensemble(tmp_path / "other.h5", spins(80, 16, 2), {})
    small = write_ensemble(tmp_path / "small.h5", spins(50, 8, 3), {})
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("spins", shape=(0, 16, 16), dtype=np.int8)
    return {"truth": truth, "copy": copy, "other": other, "small": small, "empty": empty}


def test_run_correlate_end_to_end(files, tmp_path):
    out = tmp_path / "out" / "run1"
    summary = run_correlate(files["truth"], 4, out, candidates={"copy": files["copy"], "other": files["other"]},
                            n_blocks=20, progress=False)
    for name in ("summary.json", "correlations.csv", "g2.png", "g2.pdf", "g4c.png", "g4c.pdf"):
        assert (out / name).stat().st_size > 0, name
    js = json.loads((out / "summary.json").read_text())
    assert js == summary
    assert js["L"] == 16 and js["scale"] == 4.0 and js["L_coarse"] == 4
    assert set(js["ensembles"]) == {"truth", "naive", "copy", "other"}
    assert set(js["comparison"]) == {"naive", "copy", "other"}
    for name, e in js["ensembles"].items():
        assert ENSEMBLE_KEYS <= set(e), name
        assert e["r"] == [1, 2, 3, 4] and e["r2"] == list(range(9))
        assert len(e["g4c"]) == 4 and len(e["g2_err"]) == 9
        assert e["g2"][0] == 1.0
    assert js["ensembles"]["truth"]["n"] == 120 and js["ensembles"]["other"]["n"] == 80
    assert js["ensembles"]["copy"]["provenance"]["method"] == "identity"
    for name, c in js["comparison"].items():
        assert COMPARISON_KEYS <= set(c), name
    # the same configurations: no residual, and paired, no error either (chi^2 undefined, written as null)
    assert js["comparison"]["copy"]["g4c_max_abs_dev"] == 0.0 and js["comparison"]["copy"]["g2_chi2_dof"] is None
    assert set(js["comparison"]["copy"]["g4c_residual_err"]) == {0.0}
    assert js["comparison"]["copy"]["scalars"]["energy"] == {"diff": 0.0, "err": 0.0, "z": 0.0}
    # one configuration per truth configuration: paired; another length: independent
    assert {n: c["errors"] for n, c in js["comparison"].items()} == {"naive": "paired", "copy": "paired",
                                                                      "other": "independent"}
    # naive: consistent by construction
    assert js["comparison"]["copy"]["consistency"] == 1.0
    assert js["comparison"]["naive"]["consistency"] == 1.0
    assert js["comparison"]["naive"]["g4c_chi2_dof"] > 10  # block-filled random spins are far from random spins
    assert js["comparison"]["other"]["consistency"] is None  # another N: no pairing with the coarse inputs
    with open(out / "correlations.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * (9 + 4)
    assert {row["residual"] for row in rows if row["ensemble"] == "truth"} == {""}
    row = next(r for r in rows if r["ensemble"] == "naive" and r["observable"] == "g4c" and r["r"] == "1")
    i = 0
    assert float(row["value"]) == pytest.approx(js["ensembles"]["naive"]["g4c"][i])
    ens = js["ensembles"]
    assert float(row["residual"]) == pytest.approx(ens["naive"]["g4c"][i] - ens["truth"]["g4c"][i])


@pytest.mark.parametrize("scale, L_coarse", [(2.5, 6), (2.1, 8), (3, 5)])
def test_run_correlate_non_integer_scale(files, tmp_path, scale, L_coarse):
    js = run_correlate(files["truth"], scale, tmp_path / "o", candidates={"copy": files["copy"]}, r=[1, 3],
                       n_blocks=10, progress=False)
    assert js["L_coarse"] == L_coarse
    assert js["ensembles"]["naive"]["provenance"]["method"] == "naive: spectral zero-padding + sign"
    assert js["ensembles"]["truth"]["r"] == [1, 3]
    assert js["comparison"]["copy"]["consistency"] == 1.0  # the truth's own blocks, same (spectral) route
    assert 0.0 <= js["comparison"]["naive"]["consistency"] <= 1.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"candidates": {"small": "small"}}, "has L = 8"),
        ({"candidates": {"e": "empty"}}, "empty"),
        ({"candidates": {"m": "missing"}}, "no such file"),
        ({"candidates": {"naive": "copy"}}, "reserved"),
        ({"scale": 1.01}, ">= L"),
        ({"scale": 0.5}, ">= 1"),
        ({"r": [0]}, "1 .. L - 1"),
    ],
)
def test_bad_input_is_one_line_input_error(files, tmp_path, kwargs, words):
    kwargs = dict(kwargs)
    cands = {k: files.get(v, tmp_path / "missing.h5") for k, v in kwargs.pop("candidates", {}).items()}
    with pytest.raises(InputError) as excinfo:
        run_correlate(files["truth"], kwargs.pop("scale", 2), tmp_path / "o", candidates=cands, progress=False,
                      **kwargs)
    msg = str(excinfo.value)
    assert words in msg and "\n" not in msg


def test_empty_truth_is_input_error(files, tmp_path):
    with pytest.raises(InputError, match="empty"):
        run_correlate(files["empty"], 2, tmp_path / "o", progress=False)
