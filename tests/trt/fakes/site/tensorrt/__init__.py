"""The ``tensorrt`` a child process imports in tests: the fake named by $COMPILE_FAKE_TENSORRT (JSON: version,
device, quirks), on the fake CUDA, which replaces Polygraphy's CUDA wrapper in that process too. Only on
``sys.path`` when a test puts this folder on PYTHONPATH."""

import json
import os
import sys

from tests.trt.fakes import install_cuda_globally
from tests.trt.fakes.fake_tensorrt import install_into

_config = json.loads(os.environ["COMPILE_FAKE_TENSORRT"])
install_into(sys.modules[__name__], _config, install_cuda_globally(_config))
