"""Drivers: what runs passes and writes a report, on the floor above the passes.

- :mod:`~compile.drivers.pipeline`: a profile's passes over one model, stage by stage, with the cache;
- :mod:`~compile.drivers.best`: ``--precision best``, one pipeline per candidate precision, the fastest that passes;
- :mod:`~compile.drivers.standalone`: ``compile validate --candidate``, the validate and benchmark passes on an
  artifact built elsewhere;
- :mod:`~compile.drivers.options`: what each pass runs with, from the profile and the command line;
- :mod:`~compile.drivers.judge`: the gates a run is held to, with the regression against a baseline.

Each builds its :class:`~compile.report.schema.Report` from a run summary (:mod:`compile.report.build`).
Libraries and passes never import a driver; :mod:`compile.api` and :mod:`compile.matrix` sit above them.
"""
