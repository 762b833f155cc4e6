"""The audit trail for people: filtering events and exporting them as CSV, without secrets.

Every change the toolkit makes is an audit event in the store (``Repository.record_audit``):
who (``actor``: an operator's email from the dashboard, ``partner-endpoint``, ``cli:{os user}``,
``webhook``, ``ticket-manager``, ...), when, which application and tenant, and a summary that
the store already refuses to hold secrets in. The export redacts once more, on the way out
(a secret-looking key's value, anything credential-shaped in a value), and defuses spreadsheet
formulas, so a CSV opened in a spreadsheet neither leaks nor runs anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from toolkit.claims import REDACTED
from toolkit.http import redact_text
from toolkit.store.records import AuditEvent
from toolkit.store.repository import looks_secret

__all__ = [
    "AUDIT_CSV_COLUMNS",
    "audit_csv",
    "audit_csv_rows",
    "describe_event",
    "redacted_summary",
]

AUDIT_CSV_COLUMNS: Final = (
    "at",
    "actor",
    "action",
    "application",
    "tenant",
    "summary",
    "details",
)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _redact_value(key: str, value: Any) -> Any:
    if looks_secret(key) and not (value is None or isinstance(value, bool)):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redacted_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``summary`` with secret-looking keys' values and credential-shaped text masked."""
    return {str(key): _redact_value(str(key), value) for key, value in summary.items()}


def _cell(value: str) -> str:
    text = redact_text(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _when(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def audit_csv_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    """The header, then one row per event (:data:`AUDIT_CSV_COLUMNS`), redacted: flat cells,
    the summary as a sentence and the details as ``key value; ...`` (no JSON inside CSV)."""
    yield list(AUDIT_CSV_COLUMNS)
    for event in events:
        yield [
            _cell(_when(event.at)),
            _cell(event.actor),
            _cell(event.action),
            _cell(event.application or ""),
            _cell(event.context_identifier or ""),
            _cell(describe_event(event.action, event.summary)),
            _cell(_details(event.summary)),
        ]


def audit_csv(events: Iterable[AuditEvent]) -> str:
    """The events as CSV text (RFC 4180, ``\\r\\n`` line ends), redacted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(audit_csv_rows(events))
    return buffer.getvalue()


def _flat(key: str, value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for inner, item in sorted(value.items()):
            yield from _flat(f"{key}.{inner}", item)
    elif isinstance(value, list | tuple):
        if value:
            yield f"{key} {', '.join(str(item) for item in value)}"
    elif value not in (None, ""):
        yield f"{key} {value}"


def _details(summary: Mapping[str, Any]) -> str:
    """The summary's fields as "key value; ..." (redacted, nested keys dotted): flat text."""
    parts: list[str] = []
    for key, value in sorted(redacted_summary(summary).items()):
        parts.extend(_flat(key.replace("_", " "), value))
    return "; ".join(parts)


def _sentence(action: str, s: Mapping[str, Any]) -> str | None:
    """One sentence per event kind (the toolkit's vocabulary); None for an unknown kind."""
    kind, _, outcome = action.partition(".")
    if action == "application.added":
        return f"Application registered ({s.get('kind', '?')}, {s.get('environment', '?')})."
    if action == "application.manifest_set":
        return "Provisioning manifest stored."
    if action == "application.manifest_removed":
        return "Provisioning manifest removed."
    if action == "authorization.status_changed":
        why = f": {s['reason']}" if s.get("reason") else ""
        return f"Authorization went from {s.get('from')} to {s.get('to')}{why}."
    if kind == "authorization":
        who = f" by {s['approved_by']}" if s.get("approved_by") else ""
        return f"Authorization {outcome.replace('_', ' ')}{who}."
    if action == "ticket.renewed":
        return f"System user ticket renewed ({s.get('transport', 'rest')})."
    if action == "tenant.state_recorded":
        was = f" (was {s['from_state']})" if s.get("from_state") else ""
        state = s.get("to_state") or "unknown"
        return f"Tenant state {state} recorded from the {s.get('source')}{was}."
    if action == "tenant.state_changed":
        return (
            f"State-change notification ({s.get('change_type')}): "
            f"{s.get('from_state') or 'unknown'} to {s.get('to_state') or 'unknown'}."
        )
    if kind == "tenant" and outcome.startswith("state_change_"):
        why = f": {s['reason']}" if s.get("reason") else ""
        verdict = outcome.removeprefix("state_change_").replace("_", " ")
        return f"State-change notification ({s.get('change_type')}) {verdict}{why}."
    if kind == "install":
        return f"Install {outcome.replace('_', ' ')}."
    if kind == "provisioning":
        return (
            f"Provisioning {outcome} {s.get('outcome', '')}: "
            f"{s.get('done', 0)} of {s.get('steps', 0)} steps."
        ).replace("  ", " ")
    if kind == "installation_page":
        return f"Installation page: {outcome.replace('_', ' ')}."
    if action == "secrets.rotated":
        return f"Secrets re-sealed with key {s.get('current_kid')}."
    if kind == "operator":
        who = f" ({s['reason']})" if s.get("reason") else ""
        return f"Operator {outcome.replace('_', ' ')}{who}."
    return None


def describe_event(action: str, summary: Mapping[str, Any]) -> str:
    """A readable line for an audit event: one sentence per known kind, with its remaining
    detail; for an unknown kind, its fields. Redacted like the export."""
    try:
        sentence = _sentence(action, summary)
    except (TypeError, ValueError):  # a summary of an unexpected shape: its fields instead
        sentence = None
    if sentence is None:
        return _details(summary) or action
    return redact_text(sentence)
