"""Implementation modules of :mod:`engine.io` (import the public names from ``engine.io``)."""
