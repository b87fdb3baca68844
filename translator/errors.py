"""Errors shared by the `translator` command and its subcommands, in a module that imports
nothing: the command's modules and the packages above translator (e.g. `worker.cli`) raise them
without importing the command itself."""


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""
