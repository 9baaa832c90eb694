"""The package version (its own module so that any floor can import it)."""

__version__ = "0.1.0"
