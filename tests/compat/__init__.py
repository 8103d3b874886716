"""Compatibility suite: Django's and DRF's own code on top of byo_sessions' session engine."""
