"""Small built-in models: a CNN and a transformer encoder that takes token ids (tests, demos)."""

from __future__ import annotations

from typing import Any

from compile.models.spec import InputSpec, Preprocessing


def tiny_cnn() -> Any:
    """A 5-layer CNN for 32x32 RGB images with a residual block (fast end-to-end runs)."""
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                       nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
            self.head = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            x = torch.relu(x + self.block(x))
            return self.head(x)

    return {
        "model": TinyCNN(),
        "inputs": [InputSpec("input", ("batch", 3, 32, 32), "float32", -2.0, 2.0)],
        "preprocessing": Preprocessing(resize=36, crop=32),
    }


def tiny_transformer() -> Any:
    """A 2-layer transformer encoder over token ids with a classification head (no preprocessing)."""
    import torch
    from torch import nn

    vocab, dim, seq = 1000, 64, 32

    class TinyTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.position = nn.Parameter(torch.randn(1, seq, dim) * 0.02)
            layer = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=128, batch_first=True, dropout=0.0)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.head = nn.Linear(dim, 4)

        def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(self.embed(token_ids) + self.position)
            return self.head(hidden.mean(dim=1))

    return {
        "model": TinyTransformer(),
        "inputs": [InputSpec("token_ids", ("batch", seq), "int64", 0, vocab)],
        "task": "sequence-classification",
    }
