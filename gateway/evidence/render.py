"""An evidence pack as one self-contained HTML document (inline CSS and SVG, no
script, nothing fetched), and as PDF through WeasyPrint with a URL fetcher that
refuses every URL, so rendering can never reach the network."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any

from gateway.evidence.gather import Evidence
from gateway.evidence.svg import lineage_svg

CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: "page " counter(page) " of " counter(pages);
  font-size: 8pt; color: #667; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #1b1e24; }
h1 { font-size: 16pt; margin: 0 0 2mm; } h2 { font-size: 11.5pt; border-bottom: 1px solid #99a;
  margin: 6mm 0 2mm; padding-bottom: 1mm; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border: 1px solid #ccd; padding: 1.2mm 1.6mm; text-align: left; vertical-align: top; }
th { background: #eef0f4; } td.hash, .hash { font-family: "DejaVu Sans Mono", monospace; font-size: 6.5pt;
  word-break: break-all; }
.pass { color: #1c6b2a; font-weight: bold; } .fail { color: #a3171b; font-weight: bold; }
.muted { color: #667; } svg.lineage { max-width: 100%; height: auto; }
.closing { margin-top: 6mm; padding: 3mm; border: 1px solid #99a; background: #f7f8fa; }
"""


def _t(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "—"


def _e(value: Any) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(ev: Evidence) -> str:
    v = ev.version
    card = v.model_card
    card_rows = [
        (escape(f.name.replace("_", " ")), _e(getattr(card, f.name))) for f in dataclasses.fields(card)
    ]
    datasets = [
        (_e(d.role), _e(d.name), _e(d.uri), f'<span class="hash">{_e(d.digest)}</span>')
        for d in v.training_data
    ]
    approvals = [(_e(a.principal), _e(a.role), _t(a.at), _e(a.comment)) for a in ev.approvals]
    reviews = [(_e(r.principal), _e(r.outcome), _t(r.at), _e(r.comment)) for r in ev.reviews]
    promotions = [
        (
            _e(p.id[:12]),
            f"{_e(p.from_stage.value)} → {_e(p.target_stage.value)}",
            _e(p.status.value),
            _e(p.requested_by),
            _t(p.created_at),
            _e(", ".join(f"{a.role}: {a.principal} ({_t(a.at)})" for a in p.approvals)),
        )
        for p in ev.promotions
    ]
    policies = [
        (
            _e(p.policy),
            _e(p.severity),
            '<span class="pass">PASS</span>' if p.passed else '<span class="fail">FAIL</span>',
            _e(p.message if not p.passed else p.description),
        )
        for p in ev.policies
    ]
    history = [
        (
            _t(e.at),
            _e(e.action),
            _e(e.principal),
            _e(e.details.get("from")),
            _e(e.details.get("to") or e.details.get("stage")),
        )
        for e in ev.stage_history
    ]
    serving = [(_e(d.endpoint), _e(d.traffic_percent), _e(d.status), _t(d.updated_at)) for d in v.deployments]
    events = [
        (
            str(e.seq),
            _t(e.at),
            _e(e.action),
            _e(e.principal),
            f'<span class="hash">{_e(e.hash)}</span><br>'
            f'<span class="hash muted">prev {_e(e.prev_hash)}</span>',
        )
        for e in ev.events
    ]
    review_line = (
        f"next review due {_t(ev.review.due)}"
        + (f" — <b>OVERDUE ({escape(ev.review.severity)})</b>" if ev.review.severity else "")
        if ev.review.due
        else "no periodic review required"
    )
    chain = "intact" if ev.chain_ok else f"BROKEN: {_e(ev.chain_problem)}"
    metrics = [(escape(k), escape(f"{val:g}")) for k, val in sorted(v.metrics.items())]
    state = (
        '<span class="pass">compliant</span>' if ev.compliant else '<span class="fail">non-compliant</span>'
    )
    code = str(v.training_code) if v.training_code else None
    summary = (
        f"<tr><th>Version</th><td>{escape(v.uri)}</td><th>Stage</th><td>{escape(v.stage.value)}</td></tr>"
        f"<tr><th>Registry</th><td>{escape(v.registry_id)}</td><th>Owner team</th><td>{_e(ev.team)}</td></tr>"
        f'<tr><th>Risk tier</th><td>{_e(ev.tier)} <span class="muted">({_e(ev.tier_source)})</span></td>'
        f"<th>Compliance</th><td>{state}; {review_line}</td></tr>"
        f"<tr><th>Semver</th><td>{_e(v.semver)}</td><th>Generated</th><td>{_t(ev.generated_at)}</td></tr>"
        f'<tr><th>Artifact</th><td colspan="3">{_e(v.artifact_uri)} '
        f'<span class="hash">{_e(v.artifact_digest)}</span></td></tr>'
    )
    sections = [
        ("EU AI Act Annex IV map", _annex_iv(ev)),
        ("Model card", _table(("Field", "Text"), card_rows, "No model card.")),
        ("Metrics", _table(("Metric", "Value"), metrics, "No metrics recorded.")),
        (
            "Training and validation data",
            _table(("Role", "Name", "URI", "Digest"), datasets, "No datasets recorded.")
            + f"<p>Training code: {_e(code)}; environment: {_e(v.environment)}</p>",
        ),
        (
            "Lineage",
            lineage_svg(ev.graph, v.uri)
            if ev.graph is not None
            else '<p class="muted">Shown only to the model\'s team and admins.</p>',
        ),
        ("Approvals", _table(("Principal", "Role", "At", "Comment"), approvals, "No approvals recorded.")),
        (
            "Promotion requests",
            _table(
                ("Request", "Move", "Status", "Requested by", "At", "Approvals"),
                promotions,
                "No promotion requests.",
            ),
        ),
        ("Reviews", _table(("Principal", "Outcome", "At", "Comment"), reviews, "No reviews recorded.")),
        (
            "Policy results",
            _table(
                ("Policy", "Severity", "Result", "Detail"), policies, "No policy applies to this version."
            ),
        ),
        (
            "Deployment history",
            _table(("At", "Event", "Principal", "From", "To"), history, "No stage changes recorded.")
            + "<p>Serving now:</p>"
            + _table(
                ("Endpoint", "Traffic %", "Status", "Updated"),
                serving,
                "Not serving anywhere the registry reports.",
            ),
        ),
        (
            "Audit events about this version",
            _table(("#", "At", "Action", "Principal", "Hash"), events, "No audit events."),
        ),
    ]
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    head = _e(ev.chain_head)
    closing = (
        f'<div class="closing"><b>How to check this pack.</b> The audit log held {ev.chain_events} events '
        f"when this pack was made; its chain was {chain}; the chain's head was "
        f'<span class="hash">{head}</span>. Each event\'s hash above is SHA-256 (or HMAC-SHA256 with the '
        "audit key) over its canonical JSON and the previous event's hash. Run "
        f"<code>modelgate audit verify --expect-head {head}</code> later: it fails if any of these events "
        "was edited or removed, or the log was cut back behind this head.</div>"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Evidence pack: {escape(v.uri)}</title><style>{CSS}</style></head><body>"
        f"<h1>Evidence pack: {escape(v.model_name)} v{escape(v.version)}</h1>"
        f"<table><tbody>{summary}</tbody></table>{body}{closing}</body></html>\n"
    )


def _annex_iv(ev: Evidence) -> str:
    rows = [
        (
            f"{section.number}. {escape(section.title)}",
            "<br>".join(f"{escape(f.label)}: {escape(_short(f.value))}" for f in section.filled) or "—",
            "<br>".join(
                f'<span class="fail">{escape(g.label)}</span> — add {escape(g.field)}'
                for g in section.missing
            )
            or '<span class="pass">none</span>',
        )
        for section in ev.annex_iv.sections
    ]
    gaps = len(ev.annex_iv.gaps)
    lead = (
        f"<p>Where this version's record holds what each section of Annex IV (technical documentation of "
        f"high-risk AI systems) asks about: {gaps} {'gap' if gaps == 1 else 'gaps'}. Documentation "
        "support, not legal advice.</p>"
    )
    return lead + _table(("Section", "Filled by", "Missing (field to add)"), rows, "")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


PDF_NEEDS = "PDF needs WeasyPrint and Pango (pip install 'modelgate[reports]')"


@functools.cache
def pdf_unavailable() -> str | None:
    """Why this installation cannot make PDFs (None: it can), for the dashboard to say
    so beside the evidence links instead of offering a link that answers an error."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: Pango is missing from the system
        return f"{PDF_NEEDS}: {exc}"
    return None


def render_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML document. Any URL WeasyPrint asks for (a
    stylesheet, an image, a font) is refused by the fetcher, never fetched."""
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:  # OSError: Pango is missing from the system
        from gateway.errors import BadInput

        raise BadInput(f"{PDF_NEEDS}: {exc}", field="format") from None

    class RefusingFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"evidence packs fetch nothing: refused {url}")

    fetcher = RefusingFetcher(allowed_protocols=())
    return bytes(weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf())


def render(ev: Evidence, fmt: str) -> bytes:
    if fmt not in ("html", "pdf"):
        from gateway.errors import BadInput

        raise BadInput(f"format must be html or pdf, got {fmt!r}", field="format")
    html = render_html(ev)
    return html.encode("utf-8") if fmt == "html" else render_pdf(html)
