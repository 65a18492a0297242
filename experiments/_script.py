"""What every experiment script shares: its docstring as ``--help``, and one-line errors.

Scripts run as ``python experiments/NAME.py``, so this module is importable as ``_script``.
"""

from __future__ import annotations

import argparse
import sys
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
