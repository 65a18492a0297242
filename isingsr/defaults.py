"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

``REVERSE_STEPS`` is the number of reverse steps (network evaluations) of
SKILD and of the SR3 baseline wherever none is given: ``isingsr sample``,
``superres``, ``correlate``, :mod:`isingsr.workflow` and
:mod:`isingsr.diffusion.pipeline`. Measured at L = 32 with the shipped
checkpoints (README, "Baselines and the headline comparison"): SKILD's
ancestral sampler converges like 1/steps (its G4c residual at r = 1 at 4x:
0.0066 at 100 steps, 0.0022 at 200; energy +1.8 and +0.7 sigma), while SR3
at 100 steps sits where its discretisation bias happens to cancel its
network's (at 2x: r = 1 residual -0.027, -0.0035, +0.010 at 40, 100, 200
steps). 200 is the smallest count measured at which both report their
converging answer; fewer is faster, not more accurate.
"""

#: Reverse steps of SKILD and SR3 when none are given.
REVERSE_STEPS = 200
