"""The exact routes (enumeration, Kaufman) against the reference table and each other."""

import pytest

from isingsr.constants import BETA_C
from isingsr.exceptions import InputError
from isingsr.mc.exact import enumerate_exact, kaufman_energy

# shared/reference/exact_ising.md, section 1
KAUFMAN = {
    4: (-1.565623788, 0.7832668259),
    8: (-1.491589107, 1.145559240),
    16: (-1.453064853, 1.498704959),
    32: (-1.433658466, 1.846767590),
    64: (-1.423938390, 2.192211393),
    128: (-1.419076272, 2.536331335),
    256: (-1.416644954, 2.879786255),
}
# section 2: <m^2>, <m^4>, <|m|>, U4
ENUM = {
    3: (0.809429989272, 0.746613605228, 0.871071935474, 0.620146560599),
    4: (0.761358908569, 0.665691213267, 0.843860444813, 0.617199318412),
}


def test_beta_c_value():
    assert BETA_C == pytest.approx(0.44068679350977, abs=1e-14)


@pytest.mark.parametrize("L", sorted(KAUFMAN))
def test_kaufman_matches_reference(L):
    u, c = kaufman_energy(L)
    assert u == pytest.approx(KAUFMAN[L][0], abs=2e-9)
    assert c == pytest.approx(KAUFMAN[L][1], abs=2e-9)


def test_kaufman_asymptotics():
    # u(L) = -sqrt2 - a1/L + O(L^-3), a1 = 0.6224394608
    u, _ = kaufman_energy(256)
    assert u == pytest.approx(-2**0.5 - 0.6224394608 / 256, abs=1e-6)


@pytest.mark.parametrize("L", sorted(ENUM))
def test_enumeration_matches_reference(L):
    obs = enumerate_exact(L).observables()
    m2, m4, am, u4 = ENUM[L]
    assert obs["m2"] == pytest.approx(m2, abs=1e-11)
    assert obs["m4"] == pytest.approx(m4, abs=1e-11)
    assert obs["abs_m"] == pytest.approx(am, abs=1e-11)
    assert obs["binder"] == pytest.approx(u4, abs=1e-11)


@pytest.mark.parametrize("beta", [0.2, BETA_C, 0.7])
def test_enumeration_and_kaufman_agree(beta):
    # two independent routes to the same numbers, also away from criticality
    obs = enumerate_exact(4, beta).observables()
    u, c = kaufman_energy(4, beta)
    assert obs["energy"] == pytest.approx(u, abs=1e-12)
    assert obs["specific_heat"] == pytest.approx(c, abs=1e-9)


def test_exact_bad_input():
    with pytest.raises(InputError):
        enumerate_exact(6)
    with pytest.raises(InputError):
        kaufman_energy(1)
