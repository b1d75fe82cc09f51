"""Compile a model zoo for many hardware targets: every (model, profile, precision) job, in parallel.

``make_plan`` lays out the jobs and the stages they share; ``run_matrix`` runs the shared stages once,
fans the jobs out on a local process pool or a Ray cluster, and writes ``matrix.json``, ``matrix.md``
and ``matrix.html`` under OUT. Nothing heavy (torch, ray) is imported until a job runs.

    from compile.matrix import MatrixSettings, make_plan, run_matrix
    result = run_matrix(make_plan(MatrixSettings(models=("resnet18", "mobilenet_v3_large"), profiles=("cpu", "t4"))))
"""

from __future__ import annotations

from compile.matrix.plan import MatrixJob, MatrixPlan, MatrixSettings, SharedPrefix, make_plan, resource_name
from compile.matrix.runner import MatrixResult, run_matrix

__all__ = ["MatrixJob", "MatrixPlan", "MatrixResult", "MatrixSettings", "SharedPrefix", "make_plan", "resource_name", "run_matrix"]
