"""isingsr: super-resolving critical 2D Ising configurations with SKILD.

Subpackages
-----------
mc        Wolff cluster Monte Carlo and exact results (ground truth).
io        HDF5 ensembles.
analysis  Observables, correlation functions and error analysis.
"""

from importlib.metadata import PackageNotFoundError, version

from .constants import BETA_C
from .exceptions import InputError

try:
    __version__ = version("isingsr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+local"

__all__ = ["BETA_C", "InputError", "__version__"]
