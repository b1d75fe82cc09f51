"""TensorRT backend. ``tensorrt`` is imported only inside this package, and only when used."""
