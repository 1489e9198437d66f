"""The front end: Python source to graph IR (see frontend/parser.py)."""

from tapeless.frontend.parser import parse_function

__all__ = ["parse_function"]
