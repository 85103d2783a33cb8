"""The self-contained HTML report: results.jsonl records -> one page with no outside assets.

Data flows one way: `model.build_model` aggregates the typed records of `conformance.records`
into plain JSON-ready dicts (counts; `findings`: one card per distinct finding, never every record;
`run_info`: the run header), `render.render_report` feeds that model to one autoescaped Jinja2
template, and `plugin.ReportPlugin` does it at the very end of a pytest session.

Importing this package imports nothing heavy; Jinja2 loads when a page is rendered.
"""

from __future__ import annotations

__all__ = ["ReportInputError", "ReportPlugin", "ReportSummary", "build_model", "render_records", "render_report"]


def __getattr__(name: str):
    # Lazy re-exports: `import conformance.report` stays cheap (no Jinja2, no pytest).
    if name in ("ReportInputError", "ReportSummary", "render_records", "render_report"):
        from . import render

        return getattr(render, name)
    if name == "build_model":
        from .model import build_model

        return build_model
    if name == "ReportPlugin":
        from .plugin import ReportPlugin

        return ReportPlugin
    raise AttributeError(f"module 'conformance.report' has no attribute {name!r}")
