"""modelgate: one GraphQL API in front of every model registry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modelgate")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
