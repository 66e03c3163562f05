"""The version, read by packaging (pyproject: dynamic version) and by ``nasscan --version``."""

__version__ = "0.1.0"
