"""Errors shared by the `translator` command, its subcommands and the packages above
translator, in a module that imports nothing: `worker.cli` raises them and the worker's error
handling tells them apart without importing the command or torch."""


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, truncated, or not a translator checkpoint
    (raised by translator/checkpoint.py, which imports torch)."""
