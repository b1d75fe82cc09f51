"""What travels with a model: its input specs and, for image models, its preprocessing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from compile.errors import ProfileError, UserInputError
from compile.profiles import flatten_output_kinds

if TYPE_CHECKING:
    from compile.profiles import InputShape

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
    """One model input. A ``str`` in ``shape`` is a dynamic dimension's name: at axis 0 the batch
    (``"batch"``), elsewhere an axis such as ``"sequence"``, whose size for examples, generated data,
    calibration, validation and benchmarks comes from ``sizes`` (axis name -> size, never a silent 1)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    #: Value range for generated inputs: [low, high) for integers (token ids), mean/std-ish for floats.
    low: float = 0.0
    high: float = 1.0
    #: Size of each named dynamic non-batch axis (``{"sequence": 128}``).
    sizes: Mapping[str, int] = field(default_factory=dict, hash=False)

    def dynamic_axes(self) -> dict[int, str]:
        """Axis index -> name of every dynamic non-batch axis."""
        return {i: str(dim) for i, dim in enumerate(self.shape) if i > 0 and not _is_static(dim)}

    @property
    def sized(self) -> bool:
        """True when every dynamic non-batch axis has a size (:meth:`concrete_shape` will not raise)."""
        return all(name in self.sizes for name in self.dynamic_axes().values())

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        """The shape of ``batch`` samples. Raises UserInputError when a dynamic non-batch axis has no size."""
        dims: list[int] = []
        for i, dim in enumerate(self.shape):
            if _is_static(dim):
                dims.append(int(dim))
            elif i == 0:
                dims.append(batch)
            elif str(dim) in self.sizes:
                dims.append(int(self.sizes[str(dim)]))
            else:
                raise UserInputError(
                    f"input '{self.name}' axis {i} ('{dim}') is dynamic and its size is unknown: declare it in the "
                    f"model factory (\"dynamic_sizes\": {{\"{dim}\": N}}) or give [shapes.inputs.{self.name}] min/opt/max in the profile")
        return tuple(dims)

    def with_sizes(self, sizes: Mapping[str, int], override: bool = False) -> InputSpec:
        """This spec with sizes for its dynamic axes taken from ``sizes`` (axis name -> size); names it does
        not have are ignored; its own sizes win unless ``override``."""
        names = set(self.dynamic_axes().values())
        merged = dict(self.sizes)
        for axis, size in sizes.items():
            if axis in names and (override or axis not in merged):
                merged[axis] = int(size)
        return self if merged == dict(self.sizes) else replace(self, sizes=merged)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "low": self.low, "high": self.high}
        if self.sizes:
            data["sizes"] = dict(self.sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(name=data["name"], shape=tuple(data["shape"]), dtype=data.get("dtype", "float32"),
                   low=data.get("low", 0.0), high=data.get("high", 1.0), sizes=dict(data.get("sizes", {})))


def _is_static(dim: int | str) -> bool:
    return isinstance(dim, int) and dim > 0


@dataclass(frozen=True)
class ModelInfo:
    """Model metadata that later stages need without loading the model again.

    ``output_names``: as the factory declared them, or empty: then export names them from the model's
    output structure (see :mod:`compile.models.outputs`) and records them here. ``dynamic_sizes``: the
    size of each named dynamic non-batch axis, for every input that has that axis (an input's own
    ``sizes`` win). ``output_kinds``: what the factory declares its outputs hold (output name -> ``KIND``,
    or ``OUTPUT.VIEW`` -> ``KIND[..., START:STOP]`` for a column slice; a nested dict is the same), which
    picks the figures validation measures (:mod:`compile.validate.kinds`); a bad declaration is a
    UserInputError."""

    name: str
    inputs: tuple[InputSpec, ...]
    output_names: tuple[str, ...] = ()
    preprocessing: Preprocessing | None = None
    #: Where the weights came from ("pretrained: <file>", "random init (seed 0)", ...).
    weights: str = ""
    task: str = "classification"
    warnings: tuple[str, ...] = field(default_factory=tuple)
    dynamic_sizes: Mapping[str, int] = field(default_factory=dict, hash=False)
    output_kinds: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "output_kinds", flatten_output_kinds(self.output_kinds))
        except ValueError as err:
            raise UserInputError(f"model {self.name}: {err}") from err
        # Bind the model-level sizes into the specs: code that holds only specs generates the right shapes.
        if self.dynamic_sizes:
            object.__setattr__(self, "inputs", tuple(spec.with_sizes(self.dynamic_sizes) for spec in self.inputs))

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
            **({"dynamic_sizes": dict(self.dynamic_sizes)} if self.dynamic_sizes else {}),
            **({"output_kinds": dict(self.output_kinds)} if self.output_kinds else {}),
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
            dynamic_sizes=dict(data.get("dynamic_sizes", {})),
            output_kinds=dict(data.get("output_kinds", {})),
        )


def resolve_dynamic_sizes(info: ModelInfo, input_shapes: Mapping[str, InputShape]) -> tuple[ModelInfo, dict[str, str]]:
    """``info`` with a size for every dynamic non-batch axis, and "axis: size (source)" per axis name.

    ``input_shapes``: the profile's ``[shapes.inputs]``. The profile's ``[shapes.inputs.NAME]`` opt shape wins over the sizes the model carries (declared by its
    factory, or recorded in an exported graph). Raises ProfileError for a profile shape of the wrong rank,
    UserInputError when an axis has no size, or when inputs sharing an axis name get different sizes."""
    chosen: dict[str, tuple[int, str]] = {}
    specs = []
    for spec in info.inputs:
        explicit = input_shapes.get(spec.name)
        if explicit is not None and len(explicit.opt) != len(spec.shape):
            raise ProfileError(f"shapes.inputs.{spec.name}: rank {len(explicit.opt)} but the model's input has rank "
                               f"{len(spec.shape)} ({list(spec.shape)})")
        sizes = dict(spec.sizes)
        for axis, axis_name in spec.dynamic_axes().items():
            if explicit is not None:
                size, source = explicit.opt[axis], f"profile [shapes.inputs.{spec.name}] opt"
            elif axis_name in spec.sizes:
                size, source = spec.sizes[axis_name], "declared with the model"
            else:
                spec.concrete_shape(1)  # raises the error that says how to declare the size
                raise AssertionError("unreachable")
            if size < 1:
                raise UserInputError(f"input '{spec.name}' axis {axis} ('{axis_name}'): size {size} from the {source} is not positive")
            if axis_name in chosen and chosen[axis_name][0] != size:
                raise UserInputError(f"axis '{axis_name}' gets size {chosen[axis_name][0]} ({chosen[axis_name][1]}) and {size} "
                                     f"({source}, input '{spec.name}'): inputs sharing an axis name need one size")
            chosen.setdefault(axis_name, (size, source))
            sizes[axis_name] = size
        specs.append(spec.with_sizes(sizes, override=True))
    sizes_by_axis = {name: size for name, (size, _) in chosen.items()}
    return (replace(info, inputs=tuple(specs), dynamic_sizes=sizes_by_axis),
            {name: f"{size} ({source})" for name, (size, source) in chosen.items()})


def image_input(name: str = "input", size: int = 224) -> InputSpec:
    return InputSpec(name=name, shape=("batch", 3, size, size), dtype="float32", low=-2.5, high=2.5)
