"""What travels with a model: its input specs and, for image models, its preprocessing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor (mean/std apply to pixels scaled to 0..1)."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    layout: str = "NCHW"
    #: True when the tool assumed ImageNet defaults (an ONNX file carries no preprocessing).
    assumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        values = dict(data)
        values["mean"], values["std"] = tuple(values["mean"]), tuple(values["std"])
        return cls(**values)


@dataclass(frozen=True)
class InputSpec:
    """One model input. A ``str`` in ``shape`` is a dynamic dimension's name (``"batch"``)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    #: Value range for generated inputs: [low, high) for integers (token ids), mean/std-ish for floats.
    low: float = 0.0
    high: float = 1.0

    def concrete_shape(self, batch: int, dynamic_default: int = 1) -> tuple[int, ...]:
        dims: list[int] = []
        for i, dim in enumerate(self.shape):
            if isinstance(dim, int) and dim > 0:
                dims.append(dim)
            else:
                dims.append(batch if i == 0 else dynamic_default)
        return tuple(dims)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(name=data["name"], shape=tuple(data["shape"]), dtype=data.get("dtype", "float32"),
                   low=data.get("low", 0.0), high=data.get("high", 1.0))


@dataclass(frozen=True)
class ModelInfo:
    """Model metadata that later stages need without loading the model again."""

    name: str
    inputs: tuple[InputSpec, ...]
    output_names: tuple[str, ...] = ("logits",)
    preprocessing: Preprocessing | None = None
    #: Where the weights came from ("pretrained: <file>", "random init (seed 0)", ...).
    weights: str = ""
    task: str = "classification"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_image_model(self) -> bool:
        return self.preprocessing is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "output_names": list(self.output_names),
            "preprocessing": self.preprocessing.to_dict() if self.preprocessing else None,
            "weights": self.weights,
            "task": self.task,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        pre = data.get("preprocessing")
        return cls(
            name=data["name"],
            inputs=tuple(InputSpec.from_dict(d) for d in data["inputs"]),
            output_names=tuple(data.get("output_names", ("logits",))),
            preprocessing=Preprocessing.from_dict(pre) if pre else None,
            weights=data.get("weights", ""),
            task=data.get("task", "classification"),
            warnings=tuple(data.get("warnings", ())),
        )


def image_input(name: str = "input", size: int = 224) -> InputSpec:
    return InputSpec(name=name, shape=("batch", 3, size, size), dtype="float32", low=-2.5, high=2.5)
