"""An OpenVINO bundle of an ``openvino-cpu`` (or other OpenVINO) run: the IR under the names OpenVINO reads.

    OUT/<name>/model.xml                  the graph
    OUT/<name>/model.bin                  its weights (``core.read_model("model.xml")`` finds them)
    OUT/<name>/model.xml.compile.json     the sidecar: what built it, the settings to compile with, bindings
    OUT/<name>/manifest.json              hashes, preprocessing, inputs, what built it

The sidecar names ``model.bin`` as the weights file, so the project's runner loads the bundle as it loads the
run's own artifact, refusing another OpenVINO release, device or CPU instruction set.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from compile.artifacts import sidecar_name
from compile.errors import UserInputError
from compile.fsutil import ensure_writable_dir, write_json_atomic
from compile.package.bundle import RunBundle
from compile.package.manifest import MANIFEST_FILE, build_manifest

XML, WEIGHTS = "model.xml", "model.bin"


def write_openvino_bundle(run: RunBundle, out: Path) -> Path:
    """Write ``out/<name>`` (replacing an earlier one) and return it. Only OpenVINO runs have an IR."""
    if run.backend != "openvino":
        raise UserInputError(f"--format openvino needs a run built by build-openvino; {run.run_dir} is a {run.backend} run "
                             "(compile run MODEL --profile openvino-cpu)")
    ensure_writable_dir(out)
    model_dir = out / run.name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    (_, weights), = run.external_files
    shutil.copyfile(run.model_path, model_dir / XML)
    shutil.copyfile(weights, model_dir / WEIGHTS)
    write_json_atomic(model_dir / sidecar_name(XML), {**run.sidecar, "weights_file": WEIGHTS})
    files = {name: model_dir / name for name in (XML, WEIGHTS, sidecar_name(XML))}
    write_json_atomic(model_dir / MANIFEST_FILE, build_manifest(run, "openvino", files))
    return model_dir
