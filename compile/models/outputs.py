"""Name a PyTorch model's outputs: one tensor, a tuple or list, a dict, or any nesting of them.

The structure is flattened in the order ``torch.onnx`` flattens it (``torch.utils._pytree``), so the
i-th name belongs to the i-th graph output. Names, unless the factory declares ``output_names``:
a single tensor is ``logits``; dict entries take their key; sequence items are ``output_0``,
``output_1``, ... at the top level and their index below it; levels are joined with ``.``
(``{"det": (boxes, scores)}`` -> ``det.0``, ``det.1``). ``None`` entries are dropped, as the
exporters drop them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compile.errors import UserInputError

#: The name of a model's only output when the factory declares none (what every classifier here had).
SINGLE_OUTPUT_NAME = "logits"


def flatten_outputs(out: Any, declared: Sequence[str] = ()) -> dict[str, Any]:
    """Output name -> tensor, in graph-output order.

    ``declared`` names are taken in order; when they are the same set as the names derived from the
    structure (a dict's keys in another order), the derived ones are used so each name keeps its tensor.
    Raises UserInputError when the count of declared names differs from the count of tensors, or when
    an output is not a tensor."""
    import torch
    from torch.utils._pytree import tree_flatten_with_path

    leaves, _ = tree_flatten_with_path(out)
    derived: list[str] = []
    tensors = []
    for path, leaf in leaves:
        if leaf is None:
            continue
        name = _path_name(path)
        if not isinstance(leaf, torch.Tensor):
            raise UserInputError(f"the model returns a {type(leaf).__name__} as output '{name or 0}': only tensors "
                                 "(alone, or in tuples, lists and dicts) can be exported")
        derived.append(name)
        tensors.append(leaf)
    if not tensors:
        raise UserInputError("the model returns no tensor")
    if len(derived) == 1 and not derived[0]:
        derived = [SINGLE_OUTPUT_NAME]
    names = _unique(derived)
    if declared:
        declared = list(declared)
        if len(declared) != len(tensors):
            raise UserInputError(f"the model factory declares {len(declared)} output names {declared}, but the model "
                                 f"returns {len(tensors)} tensors ({', '.join(names)})")
        if len(set(declared)) != len(declared):
            raise UserInputError(f"the model factory declares output names twice: {declared}")
        if set(declared) != set(names):
            names = declared
    return dict(zip(names, tensors, strict=True))


def _path_name(path: tuple[Any, ...]) -> str:
    from torch.utils._pytree import GetAttrKey, MappingKey, SequenceKey

    parts: list[str] = []
    for entry in path:
        if isinstance(entry, SequenceKey):
            parts.append(f"output_{entry.idx}" if not parts else str(entry.idx))
        elif isinstance(entry, MappingKey):
            parts.append(str(entry.key))
        elif isinstance(entry, GetAttrKey):
            parts.append(entry.name)
        else:
            parts.append(str(entry).strip(".[]'\""))
    return ".".join(parts)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}_{count}")
    return result
