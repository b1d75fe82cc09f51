"""Input data: image folders read through a model's own preprocessing, and generated inputs."""
