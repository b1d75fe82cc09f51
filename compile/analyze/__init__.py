"""Where the time goes: per-layer cost counts, activation sparsity, and measured per-op time."""
