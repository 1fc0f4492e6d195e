"""Standalone HTML pages: ``--format html`` and ``olsnet report``.

A page is one self-contained file: UTF-8 declared, its style sheet inline, figures embedded
as base64 PNG ``data:`` URLs, no script and nothing fetched from elsewhere, so it opens the
same from a mail attachment, a CI artefact or a laptop without network. The tables are the
library's own HTML renderings (``Table.as_html``, ``Summary.as_html``, what a notebook shows);
the style sheet gives them the look of a Jupyter notebook's tables.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

__all__ = ["figure", "page", "pre"]

# Jupyter's rendered-HTML table look (JupyterLab 4: .jp-RenderedHTMLCommon table), plus the
# notes and the figures of a report
STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; font-size: 14px; line-height: 1.4; color: #1f1f1f; background: #ffffff;
       margin: 2em auto; max-width: 1100px; padding: 0 1.5em; }
h1 { font-size: 1.6em; font-weight: 600; margin: 0 0 0.2em; }
h2 { font-size: 1.25em; font-weight: 600; margin: 1.8em 0 0.6em; border-bottom: 1px solid #e0e0e0;
     padding-bottom: 0.2em; }
p.olsnet-meta { color: #616161; margin: 0 0 1.5em; }
table.olsnet-table { border-collapse: collapse; border-spacing: 0; border: none;
       margin: 0.8em 0 1.2em; font-size: 13px; font-variant-numeric: tabular-nums;
       table-layout: auto; }
table.olsnet-table caption { font-weight: 600; text-align: left; padding: 0 0 0.4em;
       font-size: 14px; }
table.olsnet-table th, table.olsnet-table td { padding: 0.35em 0.9em; border: none;
       vertical-align: middle; white-space: nowrap; text-align: left; }
table.olsnet-table thead { border-bottom: 1px solid #1f1f1f; }
table.olsnet-table thead th { font-weight: 600; text-align: right; }
table.olsnet-table thead th:first-child { text-align: left; }
table.olsnet-table tbody th { font-weight: 600; }
table.olsnet-table tbody tr:nth-child(odd) { background: #f5f5f5; }
table.olsnet-table tbody tr:hover { background: rgba(66, 165, 245, 0.2); }
table.olsnet-table tfoot td { color: #616161; font-size: 12px; white-space: normal;
       border-top: 1px solid #e0e0e0; }
p.olsnet-notes { color: #616161; font-size: 12px; }
pre.olsnet-pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       font-size: 13px; background: #f5f5f5; padding: 0.8em 1em; border-radius: 4px;
       overflow-x: auto; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { color: #616161; font-size: 12px; margin-top: 0.3em; }
"""


def page(title: str, body: str, *, heading: bool = False) -> str:
    """A complete HTML5 document holding ``body`` (already HTML) under ``title`` (text)."""
    e = html.escape
    top = f"<h1>{e(title)}</h1>\n" if heading else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="olsnet">\n'
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{top}{body}\n</body>\n</html>\n"
    )


def pre(text: str) -> str:
    """Preformatted text (equations), escaped."""
    return f'<pre class="olsnet-pre">{html.escape(text)}</pre>'


def figure(fig: Any, caption: str) -> str:
    """A matplotlib Figure embedded as a base64 PNG (no file beside the page)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    e = html.escape
    return (
        f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )
