"""Session engines (``SESSION_ENGINE``)."""
