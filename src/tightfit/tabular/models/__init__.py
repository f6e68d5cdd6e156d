"""Tabular model architectures: ``tiny`` (:class:`TinyTFM`, the embedded in-context classifier)."""
