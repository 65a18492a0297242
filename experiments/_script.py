"""What every experiment script shares: its docstring as ``--help``, and one-line errors.

Scripts run as ``python experiments/NAME.py``, so this module is importable as ``_script``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from isingsr.exceptions import InputError


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose ``--help`` shows the script's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def main(run: Callable[[], None]) -> None:
    """Call ``run()``; bad input and missing files end the script with one line, not a traceback."""
    try:
        run()
    except (InputError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")


def super_resolve_truth(method: str, truth, scale: float, out, ckpt=None, *, seed: int = 0, progress=None,
                        **options) -> Path:
    """Coarse-grain the truth by ``scale`` as ``isingsr correlate`` does and super-resolve it with ``method``.

    ``options`` go to :func:`isingsr.superres.load_superresolver` (steps, sampler, start, variance, grid, ...);
    the ``forward`` start gets the truth itself. Returns the written ensemble's path.
    """
    from isingsr.correlate import coarse_inputs
    from isingsr.io.hdf5 import load_ensemble
    from isingsr.io.paths import portable_path
    from isingsr.superres import load_superresolver, superresolve_to_file

    ens = load_ensemble(truth)
    if options.get("start") == "forward":
        options["fine"] = ens.spins
    model = load_superresolver(method, ckpt, L=ens.L, **options)
    return superresolve_to_file(model, coarse_inputs(ens.spins, scale, seed), scale, out, seed=seed,
                                source=portable_path(truth), overwrite=True, progress=progress)


def posterior_reference(truth, scale: float, out, *, seed: int = 0):
    """One exact posterior draw per input written to ``out``, and the conditional moments of 8 more."""
    from isingsr.correlate import POSTERIOR_DRAWS, coarse_inputs
    from isingsr.io.hdf5 import load_ensemble
    from isingsr.io.paths import portable_path
    from isingsr.superres import load_superresolver, superresolve_to_file

    ens = load_ensemble(truth)
    model = load_superresolver("posterior", beta=ens.beta, reference_draws=POSTERIOR_DRAWS)
    path = superresolve_to_file(model, coarse_inputs(ens.spins, scale, seed), scale, out, seed=seed,
                                source=portable_path(truth), overwrite=True)
    return path, model.reference
