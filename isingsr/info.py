"""What is in an ensemble file: provenance, observables with errors, exact values.

Backs ``isingsr info``. Observables are recomputed from the stored spins
(never read back from attributes) and, at beta_c on the torus, set beside the
exact finite-lattice values (enumeration for L <= 4, Kaufman's energy and
specific heat for any L, the universal Binder cumulant).
"""

from __future__ import annotations

import math

from .constants import BETA_C
from .io.hdf5 import load_ensemble
from .analysis.errors import chain_autocorrelation
from .analysis.scalars import energy_magnetization, scalar_observables

__all__ = ["ensemble_summary", "BINDER_UNIVERSAL"]

#: Universal Binder cumulant of the square torus at criticality (Salas & Sokal 2000).
BINDER_UNIVERSAL = 0.61069


def _exact_values(L: int, beta: float | None) -> dict[str, float]:
    if beta is None:
        return {}
    from .mc.exact import enumerate_exact, kaufman_energy

    if L <= 4:
        obs = enumerate_exact(L, beta).observables()
        return {k: obs[k] for k in ("energy", "abs_m", "m2", "chi", "binder", "specific_heat")}
    u, c = kaufman_energy(L, beta)
    out = {"energy": u, "specific_heat": c}
    return out


def ensemble_summary(path, n_blocks: int = 100) -> dict:
    """Summary of an ensemble file as a flat dict (the ``info --json`` contract).

    Returns
    -------
    dict
        ``L, n, beta, energy, energy_err, abs_m, abs_m_err, chi, chi_err,
        binder, binder_err, tau_int_E, tau_int_absm`` (contract keys) plus
        ``m2``, ``specific_heat`` (when beta is known), their errors,
        ``tau_int_*_err``, ``exact`` (exact values where known), ``attrs``
        (the file's attributes) and ``path``.
    """
    ens = load_ensemble(path)
    order = ens.time_order()
    e, m = energy_magnetization(ens.spins)
    e, m = e[order], m[order]
    chain = None if ens.chain is None else ens.chain[order]
    beta = ens.beta
    out: dict = {"path": str(path), "L": ens.L, "n": ens.n, "beta": beta}
    if ens.n >= 2:
        out.update(scalar_observables(e, m, ens.L, beta=beta, n_blocks=n_blocks))
    else:
        out.update({"energy": float(e[0]), "abs_m": float(abs(m[0]))})
    taus = chain_autocorrelation(e, m, chain)
    out.update({k: (None if math.isnan(v) else v) for k, v in taus.items()})
    # Exact values describe equilibrium ensembles only: Monte Carlo files, not
    # coarse-grained or model-generated ones that merely carry a source beta.
    exact: dict[str, float] = {}
    if "wolff" in str(ens.attrs.get("algorithm", "")).lower():
        exact = _exact_values(ens.L, beta)
        if beta is not None and math.isclose(beta, BETA_C, rel_tol=1e-12):
            exact["binder_universal"] = BINDER_UNIVERSAL
    out["exact"] = exact
    out["attrs"] = ens.attrs
    return out
