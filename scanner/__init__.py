"""nasscan: find network storage that answers without authentication or without encryption."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nasscan")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
