"""Versioned migrations, one module each, applied in order by ``migrate.py``."""
