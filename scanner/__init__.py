"""nasscan: find network storage that answers without authentication or without encryption."""

from scanner._version import __version__

__all__ = ["__version__"]
