"""Accuracy parity: metrics between a reference and a candidate, and the gates that judge them."""
