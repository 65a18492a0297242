"""Errors that are the user's to fix (bad input), reported as one line by the CLI."""


class InputError(ValueError):
    """Bad input: a missing or malformed file, an out-of-range parameter.

    The command-line interface prints the message as a single line
    (``isingsr: error: <message>``) and exits with status 2; library callers
    get an ordinary exception. Messages name the offending thing.
    """


class TrainingDiverged(InputError):
    """The training loss became NaN or inf; the message names the step and the checkpoint to resume from."""
