"""A tiny production-like project for tests/test_packaging.py: it runs against the
installed wheel in a clean venv, so it imports nothing from the repository."""
