"""Model inputs given as arrays: an ``.npz`` file, a folder of ``.npz`` files, or a user data loader.

The contract (README "Data"): one array per model input, named after the input, samples along axis 0;
an optional ``labels`` array (one entry per sample); any other array is metadata carried beside the
inputs (user metrics read it). A loader ``package.module:function`` is called with no arguments and
returns an iterable of batches: feed dicts in the same form (a ``labels`` entry allowed), or
``(feeds, labels)`` pairs.

Every batch is checked against the model's inputs before it is used: each input present, its rank,
its fixed dimensions, its dtype kind (integers for an integer input, floats for a float input, bools
for a bool input; values are then cast to the input's dtype, never narrowed out of range), the same
sample count in every array, and one size for a dynamic axis that several inputs share. A dynamic
axis takes any size. A failed check is one :class:`UserInputError` line naming the input, the
expected and the got.

Calibration streams: the files of a folder are read one at a time and a loader is iterated lazily,
re-cut into batches of the asked size. One ``.npz`` file's arrays are read whole (NumPy reads a zip
member at once), so data larger than memory belongs in a folder of files or a loader.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from compile.errors import UserInputError, error_cause
from compile.hashing import hash_file, hash_json
from compile.models.spec import InputSpec

LABELS = "labels"
NPZ_SUFFIX = ".npz"
#: ``package.module:function`` (dotted module path, one function name).
LOADER_PATTERN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
#: How many array names an error lists.
LISTED_NAMES = 8

ArrayKind = Literal["npz", "npz-folder", "loader"]


def array_kind(ref: Path | str | None) -> ArrayKind | None:
    """What kind of array data ``ref`` names, or ``None`` (nothing given, or an image folder).

    An ``.npz`` path is a file (even when missing: reading it gives the error); a folder holding any
    ``.npz`` file is a folder of them; a text that is no existing path and reads ``package.module:function``
    is a loader."""
    if ref is None:
        return None
    path = Path(ref)
    if path.suffix.lower() == NPZ_SUFFIX:
        return "npz"
    if path.is_dir():
        return "npz-folder" if any(_is_npz(p) for p in path.iterdir()) else None
    if not path.exists() and LOADER_PATTERN.fullmatch(str(ref)):
        return "loader"
    return None


def _is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == NPZ_SUFFIX and not path.name.startswith(".")


@dataclass
class Chunk:
    """Checked samples: the model's feeds (cast to the inputs' dtypes) and the other arrays beside them."""

    feeds: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def take(self, start: int, stop: int) -> Chunk:
        return Chunk({k: v[start:stop] for k, v in self.feeds.items()}, {k: v[start:stop] for k, v in self.extras.items()})

    def layout(self) -> tuple[Any, ...]:
        """What must agree for two chunks to be stacked: names, dtypes and per-sample shapes."""
        return tuple((k, v.dtype.str, v.shape[1:]) for k, v in sorted({**self.feeds, **self.extras}.items()))

    @staticmethod
    def stack(chunks: list[Chunk]) -> Chunk:
        if len(chunks) == 1:
            return chunks[0]
        first = chunks[0]
        return Chunk({k: np.concatenate([c.feeds[k] for c in chunks]) for k in first.feeds},
                     {k: np.concatenate([c.extras[k] for c in chunks]) for k in first.extras})


def describe_spec(spec: InputSpec) -> str:
    """``int64 (N, sequence)``: the dtype and shape an input expects, samples first."""
    dims = ["N", *(str(d) for d in spec.shape[1:])]
    return f"{spec.dtype} ({', '.join(dims)})"


def _kind_fits(data: np.dtype, wanted: np.dtype) -> bool:
    if np.issubdtype(wanted, np.bool_):
        return bool(np.issubdtype(data, np.bool_))
    if np.issubdtype(wanted, np.integer):
        return bool(np.issubdtype(data, np.integer))
    return bool(np.issubdtype(data, np.floating))


def check_arrays(arrays: Mapping[str, Any], specs: tuple[InputSpec, ...], where: str) -> Chunk:
    """``arrays`` (input name -> samples) checked against ``specs`` and cast to their dtypes.

    Raises :class:`UserInputError` naming the input, the expected and the got."""
    names = [spec.name for spec in specs]
    held = sorted(arrays)
    for name in names:
        if name not in arrays:
            listed = ", ".join(held[:LISTED_NAMES]) + (" ..." if len(held) > LISTED_NAMES else "")
            raise UserInputError(f"{where} has no array for input '{name}' (the model takes {', '.join(names)}; "
                                 f"the data holds {listed or 'nothing'})")
    feeds: dict[str, np.ndarray] = {}
    axis_sizes: dict[str, tuple[int, str]] = {}
    count: tuple[int, str] | None = None
    for spec in specs:
        array = np.asarray(arrays[spec.name])
        wanted = np.dtype(spec.dtype)
        got = f"{array.dtype} {tuple(array.shape)}"
        if array.ndim != len(spec.shape) or not _kind_fits(array.dtype, wanted):
            raise UserInputError(f"{where}: input '{spec.name}' expects {describe_spec(spec)}, got {got}")
        for axis, dim in enumerate(spec.shape[1:], start=1):
            if isinstance(dim, int) and dim > 0:
                if array.shape[axis] != dim:
                    raise UserInputError(f"{where}: input '{spec.name}' expects {describe_spec(spec)}, got {got} "
                                         f"(axis {axis} is {array.shape[axis]}, not {dim})")
            else:
                seen = axis_sizes.setdefault(str(dim), (array.shape[axis], spec.name))
                if seen[0] != array.shape[axis]:
                    raise UserInputError(f"{where}: axis '{dim}' is {seen[0]} in input '{seen[1]}' but {array.shape[axis]} "
                                         f"in input '{spec.name}' (inputs sharing an axis need one size)")
        if count is not None and array.shape[0] != count[0]:
            raise UserInputError(f"{where}: input '{spec.name}' has {array.shape[0]} samples, input '{count[1]}' has {count[0]}")
        count = count or (array.shape[0], spec.name)
        feeds[spec.name] = _cast(array, wanted, spec.name, where)
    assert count is not None  # a model has at least one input
    extras: dict[str, np.ndarray] = {}
    for name in held:
        if name in feeds:
            continue
        extra = np.asarray(arrays[name])
        if extra.ndim == 0 or extra.shape[0] != count[0]:
            raise UserInputError(f"{where}: array '{name}' has shape {tuple(extra.shape)}, but the inputs have {count[0]} "
                                 "samples (every array holds one entry per sample along axis 0)")
        extras[name] = extra
    if LABELS in extras:
        labels = extras[LABELS]
        if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer) and labels.size and labels.min() < 0:
            raise UserInputError(f"{where}: label {int(labels.min())} is negative")
    return Chunk(feeds, extras)


def _cast(array: np.ndarray, wanted: np.dtype, name: str, where: str) -> np.ndarray:
    if array.dtype == wanted:
        return array
    if np.issubdtype(wanted, np.integer) and array.size:
        limits = np.iinfo(wanted)
        low, high = int(array.min()), int(array.max())
        if low < limits.min or high > limits.max:
            raise UserInputError(f"{where}: input '{name}' expects {wanted}, got {array.dtype} values {low}..{high} "
                                 f"that do not fit")
    return array.astype(wanted)


def labels_list(extras: Mapping[str, np.ndarray]) -> list[int] | None:
    """The class labels when ``extras`` holds a 1-D integer ``labels`` array, else ``None``."""
    labels = extras.get(LABELS)
    if labels is None or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        return None
    return [int(x) for x in labels]


def npz_count(path: Path) -> int:
    """Samples in an ``.npz`` file, read from its arrays' headers (no array is loaded)."""
    try:
        with zipfile.ZipFile(path) as archive:
            counts = set()
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape = read_header(handle)[0]
                counts.add(shape[0] if shape else 0)
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise UserInputError(f"{path} is not a readable .npz file ({err})") from err
    return min(counts) if counts else 0


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickled objects). Raises UserInputError when unreadable."""
    if not path.is_file():
        raise UserInputError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserInputError(f"{path} is not a readable .npz file ({err})") from err


def _call_loader(ref: str) -> Iterator[Any]:
    module_name, _, function = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserInputError(f"data loader '{ref}' not found: cannot import {module_name} ({err})") from err
    loader = getattr(module, function, None)
    if not callable(loader):
        raise UserInputError(f"data loader '{ref}' not found: {module_name} has no function {function}")
    try:
        produced = loader()
        return iter(produced)
    except TypeError as err:
        raise UserInputError(f"data loader '{ref}' must return an iterable of feed dicts ({err})") from err


@dataclass(frozen=True)
class ArrayData:
    """Array data for a model with inputs ``specs``; ``role`` names the option in errors (``--data``)."""

    ref: Path
    specs: tuple[InputSpec, ...]
    role: str = "--data"

    @property
    def kind(self) -> ArrayKind:
        kind = array_kind(self.ref)
        assert kind is not None, self.ref
        return kind

    def describe(self) -> str:
        if self.kind == "loader":
            return f"data loader {self.ref}"
        if self.kind == "npz-folder":
            return f"{len(self.files())} .npz files in {self.ref}"
        return str(self.ref)

    def files(self) -> list[Path]:
        """The ``.npz`` files read, in order (sorted by name in a folder)."""
        if self.kind == "npz":
            if not self.ref.is_file():
                raise UserInputError(f"{self.role}: data file not found: {self.ref}")
            return [self.ref]
        if self.kind == "npz-folder":
            return sorted(p for p in self.ref.iterdir() if _is_npz(p))
        return []

    def available(self) -> int | None:
        """Samples the data offers (``None`` for a loader: known only once it has run)."""
        if self.kind == "loader":
            return None
        return sum(npz_count(path) for path in self.files())

    def _raw(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(where, arrays) per file or per loader batch, unchecked."""
        if self.kind != "loader":
            for path in self.files():
                yield f"{self.role} {path}", load_npz(path)
            return
        ref = str(self.ref)
        stream = _call_loader(ref)
        index = 0
        while True:
            try:
                item = next(stream)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - the user's code may raise anything: one line names it
                raise UserInputError(f"data loader {ref} failed at batch {index}: {error_cause(err, 300)}") from err
            where = f"{self.role} loader {ref} (batch {index})"
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Mapping):
                item = {**item[0], LABELS: item[1]}
            if not isinstance(item, Mapping):
                raise UserInputError(f"{where} is a {type(item).__name__}, not a dict of input name -> array")
            yield where, item
            index += 1

    def chunks(self) -> Iterator[Chunk]:
        """Checked samples, one file or loader batch at a time."""
        for where, arrays in self._raw():
            yield check_arrays(arrays, self.specs, where)

    def batches(self, batch_size: int, limit: int | None = None) -> Iterator[Chunk]:
        """Checked batches of ``batch_size`` samples (the last, or one before a change of shape, may be
        smaller), at most ``limit`` samples in all."""
        pending: list[Chunk] = []
        held = taken = 0
        for chunk in self.chunks():
            if limit is not None:
                chunk = chunk.take(0, limit - taken)
            if not len(chunk):
                break
            taken += len(chunk)
            if pending and pending[0].layout() != chunk.layout():
                yield Chunk.stack(pending)
                pending, held = [], 0
            pending.append(chunk)
            held += len(chunk)
            if held >= batch_size:
                merged = Chunk.stack(pending)
                start = 0
                while held - start >= batch_size:
                    yield merged.take(start, start + batch_size)
                    start += batch_size
                pending = [merged.take(start, held)] if start < held else []
                held -= start
            if limit is not None and taken >= limit:
                break
        if pending:
            yield Chunk.stack(pending)

    def load(self, limit: int | None = None) -> Chunk:
        """The first ``limit`` samples (all when ``None``) as one chunk. Raises UserInputError when the data
        is empty or its samples differ in shape (validation stacks them)."""
        chunks = list(self.batches(1 << 30, limit))
        if not chunks or not len(chunks[0]):
            raise UserInputError(f"{self.role} {self.describe()} holds no samples")
        if len(chunks) > 1:
            first, other = chunks[0].layout(), next(c.layout() for c in chunks[1:] if c.layout() != chunks[0].layout())
            raise UserInputError(f"{self.role} {self.describe()}: samples differ in shape or dtype ({_layout_text(first)} "
                                 f"vs {_layout_text(other)}): validation needs one shape per input")
        return chunks[0]

    def identity(self, limit: int | None = None) -> dict[str, Any]:
        """What the data is, by content, for cache keys: the files' hashes (a loader's: the samples it
        yields, so a loader is run to the ``limit``), and the limit."""
        if self.kind != "loader":
            return {"kind": self.kind, "files": hash_json([hash_file(path) for path in self.files()]), "limit": limit,
                    "inputs": [spec.name for spec in self.specs]}
        digest = hashlib.sha256()
        for chunk in self.batches(1 << 30, limit):
            _digest_chunk(digest, chunk)
        return {"kind": "loader", "loader": str(self.ref), "content": digest.hexdigest(), "limit": limit}

    def sample_hashes(self, limit: int | None = None) -> list[str]:
        """One content hash per sample (its inputs only), for overlap checks."""
        hashes: list[str] = []
        for chunk in self.batches(256, limit):
            for index in range(len(chunk)):
                digest = hashlib.sha256()
                for name in sorted(chunk.feeds):
                    digest.update(np.ascontiguousarray(chunk.feeds[name][index]).tobytes())
                hashes.append(digest.hexdigest())
        return hashes


def _digest_chunk(digest: Any, chunk: Chunk) -> None:
    for name, array in sorted({**chunk.feeds, **chunk.extras}.items()):
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{name}:{contiguous.dtype.str}:{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())


def _layout_text(layout: tuple[Any, ...]) -> str:
    return ", ".join(f"{name} {np.dtype(dtype)} (N, {', '.join(map(str, shape))})".replace(", )", ")") for name, dtype, shape in layout)


def array_data(ref: Path | None, specs: tuple[InputSpec, ...], role: str = "--data") -> ArrayData | None:
    """``ref`` as :class:`ArrayData` when it names array data, else ``None``."""
    return ArrayData(ref, specs, role) if ref is not None and array_kind(ref) is not None else None
