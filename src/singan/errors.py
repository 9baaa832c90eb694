"""Exceptions for problems a user can fix: bad input files, flags, runs."""


class SinGANError(Exception):
    """A problem with the user's input; the CLI prints its message without a traceback."""


class ConfigError(SinGANError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class InputError(SinGANError, ValueError):
    """An input file cannot be used (missing, unreadable, too small, wrong kind)."""


class RunError(SinGANError):
    """A run folder is missing, incomplete, corrupt or would be overwritten."""
