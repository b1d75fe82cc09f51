"""The run report: ``report.json`` (a documented schema other tools read) and ``report.md``."""
