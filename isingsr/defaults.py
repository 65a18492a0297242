"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

``REVERSE_STEPS`` is the number of reverse steps (network evaluations) of
SKILD and of the SR3 baseline wherever none is given: ``isingsr sample``,
``superres``, ``correlate``, :mod:`isingsr.workflow` and
:mod:`isingsr.diffusion.pipeline`. Why this value is in the README
("SKILD results": the discretisation bias of the ancestral sampler against
the number of steps).
"""

#: Reverse steps of SKILD and SR3 when none are given.
REVERSE_STEPS = 100
