"""Shared fixtures. Every random thing in the tests has a fixed seed."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def zscore(value, expected, error):
    """Deviation in units of the error bar."""
    return abs(value - expected) / error
