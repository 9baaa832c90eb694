"""`singan ui`: a local web app (Gradio) for training, sampling and the applications.

Gradio is an optional dependency (`pip install 'singan[ui]'`); importing `build_app` or `launch`
without it raises `MissingExtra` with the install command.
"""

from __future__ import annotations

import os

from ..errors import MissingExtra

INSTALL_HINT = "pip install 'singan[ui]'"
# Before gradio is first imported (by any module of this package): no usage reports.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def require_gradio():
    """Import and return gradio, or raise MissingExtra."""
    try:
        import gradio
    except ImportError as e:
        raise MissingExtra(f"the web app needs Gradio ({e}); install it with: {INSTALL_HINT}") \
            from None
    return gradio


def __getattr__(name: str):
    if name in ("build_app", "launch"):
        require_gradio()
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MissingExtra", "build_app", "launch", "require_gradio"]
