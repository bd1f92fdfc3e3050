"""The access report as an HTML page (Jinja2, every value escaped)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.audit.report.document import COLUMNS, Document

_TEMPLATES = Environment(
    loader=PackageLoader("services.audit.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
)


def render_html(doc: Document) -> str:
    return _TEMPLATES.get_template("report.html.j2").render(doc=doc, columns=COLUMNS)
