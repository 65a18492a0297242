"""Files: HDF5 ensembles (and, later, model checkpoints)."""

from .hdf5 import Ensemble, load_ensemble, write_ensemble

__all__ = ["Ensemble", "load_ensemble", "write_ensemble"]
