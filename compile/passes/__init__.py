"""Passes: one module per pipeline stage. The built-in list lives in :mod:`compile.passes.registry`."""
