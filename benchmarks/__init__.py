"""Benchmarks for byo_sessions (not part of the installed package). See README.md."""
