"""aurora: a Python reimplementation of Apache Aurora's scheduler, with Cython hot paths."""

__version__ = "0.1.0"
