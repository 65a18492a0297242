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

__all__ = ["ensemble_summary", "summary_text", "fmt_err", "BINDER_UNIVERSAL"]

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


def fmt_err(value, error) -> str:
    """``value ± error`` with the error to two significant digits; ``n/a`` for a value not measured (None, or not
    finite: e.g. an autocorrelation time of too few samples)."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.6g}"
    digits = max(0, 1 - int(math.floor(math.log10(error))))
    return f"{value:.{digits}f} ± {error:.{digits}f}"


def summary_text(s: dict, name) -> str:
    """The text ``isingsr info`` prints for :func:`ensemble_summary` ``s`` of the file ``name``."""
    file = name
    a = s["attrs"]
    beta = s["beta"]
    lines = [f"{file}"]
    bstr = "unknown" if beta is None else f"{beta:.10g}" + (" (beta_c)" if math.isclose(beta, BETA_C) else "")
    lines.append(f"  lattice       {s['L']} x {s['L']}, {a.get('boundary', 'periodic')}, beta = {bstr}")
    status = "" if a.get("complete", True) else f"  (incomplete: {a.get('n')} of {a.get('n_target')})"
    if "nshards" in a:
        lo = int(a.get("chain_offset", 0))
        status += (f"  (shard {a['shard']} of {a['nshards']}: chains {lo}..{lo + int(a.get('shard_chains', 1)) - 1} "
                   f"of {a.get('chains')}; join with isingsr merge)")
        samples_from = ""
    else:
        samples_from = f" from {a['chains']} chains" if "chains" in a else ""
    if "merged_shards" in a:
        samples_from += f" (merged from {a['merged_shards']} shards)"
    lines.append(f"  samples       {s['n']}" + samples_from + status)
    if "algorithm" in a:
        lines.append(f"  algorithm     {a['algorithm']}, {a.get('updates_between')} cluster updates between saves "
                     f"(~{a.get('sweeps_between')} sweeps; <|C|> = {a.get('mean_cluster_size', float('nan')):.1f})")
    prov = [f"{k} = {a[k]}" for k in ("seed", "source", "rule", "scale", "checkpoint", "sampler", "steps") if k in a]
    if prov:
        lines.append("  provenance    " + ", ".join(prov))
    lines.append(f"  written by    isingsr {a.get('isingsr_version', '?')} on {a.get('created', '?')}")
    lines.append(f"  tau_int       E: {fmt_err(s.get('tau_int_E'), s.get('tau_int_E_err'))}   "
                 f"|m|: {fmt_err(s.get('tau_int_absm'), s.get('tau_int_absm_err'))}   (in saving intervals)")
    exact = s.get("exact", {})
    lines.append("")
    lines.append(f"  {'observable':<16}{'measured':>26}   {'exact':>14}   deviation")
    names = [("energy", "energy / site"), ("abs_m", "<|m|>"), ("m2", "<m^2>"), ("chi", "chi = N<m^2>"),
             ("binder", "Binder U4"), ("specific_heat", "specific heat")]
    for key, label in names:
        if key not in s:
            continue
        v, e = s[key], s.get(key + "_err")
        ex = exact.get(key)
        note = ""
        if ex is None and key == "binder" and "binder_universal" in exact:
            ex, note = exact["binder_universal"], " (L -> inf)"
        dev = f"{(v - ex) / e:+.1f} sigma{note}" if ex is not None and e else ""
        exs = f"{ex:.10g}" if ex is not None else ""
        lines.append(f"  {label:<16}{fmt_err(v, e):>26}   {exs:>14}   {dev}")
    return "\n".join(lines)
