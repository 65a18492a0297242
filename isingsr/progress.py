"""Progress bars on stderr for long work: the CLI's commands and the experiment scripts share them.

Library functions take a plain callback (``progress(done, total)`` or ``progress(stage, done, total)``) and
know nothing of tqdm; these classes are such callbacks.
"""

from __future__ import annotations

import sys

__all__ = ["Bar", "StageBars"]


class Bar:
    """A callback ``(done, total, *extra)`` drawing one tqdm bar on stderr (none if ``quiet``); ``close()`` ends it."""

    def __init__(self, desc: str, unit: str, quiet: bool = False):
        self.desc, self.unit, self.quiet, self.bar = desc, unit, quiet, None

    def __call__(self, done: int, total: int, *_) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, mininterval=0.5)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StageBars:
    """A callback ``(stage, done, total)`` drawing one tqdm bar per stage on stderr; ``close()`` ends the last."""

    def __init__(self):
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, Bar(stage, "cfg")
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None
