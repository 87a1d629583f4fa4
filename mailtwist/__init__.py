"""mailtwist: a self-hosted mail server for applications, on Twisted."""

__version__ = "0.1.0"
__all__ = ["__version__"]
