"""Latency measurement and the machine description recorded with every figure."""
