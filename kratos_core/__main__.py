"""``python -m kratos_core`` is the ``kratos`` command."""

from .cli import main

main()
