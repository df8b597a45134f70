"""Request and response primitives below the flows and the HTTP apps.

Layers go one way: ``web`` knows nothing of flows or apps; ``flows`` (and ``actions``) use it;
``http`` (the Litestar apps and controllers) sits on top of both. ``tests/meta/test_layers.py``
keeps it so.
"""
