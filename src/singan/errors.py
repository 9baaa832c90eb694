"""The one hierarchy of errors a user can fix, and the notices a user should see.

Every problem with the user's input (files, flags, settings, run folders, the cluster, a missing
extra) is a `SinGANError`: the CLI prints its message on one line and exits with status 2, the web
app shows it in the page. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import warnings


class SinGANError(Exception):
    """A problem with the user's input; the CLI prints its message without a traceback."""


class ConfigError(SinGANError, ValueError):
    """A configuration value or argument is missing, of the wrong type or out of range."""


class InputError(SinGANError, ValueError):
    """An input file cannot be used (missing, unreadable, too small, wrong kind)."""


class RunError(SinGANError):
    """A run folder is missing, incomplete, corrupt or would be overwritten."""


class DivergenceError(SinGANError):
    """Training diverged (non-finite or exploding losses) and restarting the scale did not help."""


class CommandError(SinGANError):
    """A problem with the command line (flags that do not go together, a bad value)."""


class UIError(SinGANError):
    """A problem the web page reports to the user (bad upload, nothing selected, ...)."""


class ClusterError(SinGANError):
    """The cluster cannot run the batch (no scheduler at the address, no GPU workers, ...)."""


class MissingExtra(SinGANError):
    """An optional extra (the web app's Gradio, the metrics' weights, Dask) is not installed."""


class InputNotice(UserWarning):
    """Something about an input the user should know, though it is usable (the CLI prints it)."""


def notice(message: str, stacklevel: int = 3) -> None:
    """Warn with an `InputNotice` (the library never prints; the CLI shows these as notes)."""
    warnings.warn(InputNotice(message), stacklevel=stacklevel)
