"""Links into a page's filters: the query string sets the page's widgets, and the widgets keep
the query string in step, so a reload or a shared link shows the same view (issue 15).

The Overview links to filtered views (``/provisioning?application=…&tenants=drifted``,
``/tenants?status=active&state=never``, ``/jobs?status=failed``). A page declares which query
parameter sets which widget (:class:`QueryLink`), calls :func:`follow_query` before drawing
them, and gives each widget its default from the URL (:func:`linked_index`,
:func:`linked_text`).

Why the defaults, and not only the widgets' state: a browser clicked before the first run of a
page opened from another page has finished (the Plan button pressed while the linked page still
runs) reports none of that page's widget values. The server keeps its own values, but sends a
widget's value only in the run that set it, so the browser then draws, and from then on
reports, each widget at its *default*: for a selectbox, the first option. Seen in Streamlit
1.67 with Playwright's chromium (tests/browser/test_linked_views_in_browser.py); AppTest has no
browser and cannot show it. A widget whose default is the linked value falls back to that value
instead. Because the URL follows the widgets, the default follows the operator's own choices too.

Nothing here imports the toolkit; it sits in ``data`` because pages import only ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

# Session keys: the query string each page last applied or wrote ({page: {param: text}}), and
# the widget keys a link wrote in this run (their default must stay Streamlit's: see linked_index).
APPLIED = "links_applied"
WRITTEN = "links_written"
# The query string each page's last write-back replaced ({page: {param: text}}).
OVERWRITTEN = "links_overwritten"


@dataclass(frozen=True)
class QueryLink:
    """One query parameter that sets one widget.

    ``param`` is the parameter's name in the URL and ``key`` the widget's key. ``values`` maps
    the parameter's texts to the widget's values (other texts are ignored); without it the text
    is the value. ``neutral`` is the widget's "no filter" value: it leaves the parameter out of
    the URL, and a link without the parameter sets it.
    """

    param: str
    key: str
    values: Mapping[str, Any] | None = None
    neutral: Any = None

    def value_of(self, text: str | None) -> Any:
        """The widget value a parameter's text stands for (``neutral`` for none or unknown)."""
        if text is None:
            return self.neutral
        if self.values is None:
            return text
        return self.values.get(text, self.neutral)

    def text_of(self, value: Any) -> str | None:
        """The parameter's text for a widget value; None leaves the parameter out."""
        if value is None or value == self.neutral:
            return None
        if self.values is None:
            return str(value)
        for text, shown in self.values.items():
            if shown == value:
                return text
        return None


def _linked_query(links: Sequence[QueryLink]) -> dict[str, str]:
    """The URL's parameters that ``links`` name (other parameters are not this page's)."""
    params = {link.param for link in links}
    return {name: st.query_params[name] for name in st.query_params if name in params}


def follow_query(page: str, links: Sequence[QueryLink]) -> bool:
    """Call before drawing the widgets of ``links``. A query string the page has not applied
    yet (a link followed, a reload, Back) sets the widgets: True then. Otherwise the widgets
    are the operator's, and their values are written back into the URL (the browser's URL
    lagging one write behind is not a link: seen when a click follows a write at once)."""
    query = _linked_query(links)
    applied: dict[str, dict[str, str]] = st.session_state.setdefault(APPLIED, {})
    overwritten: dict[str, dict[str, str]] = st.session_state.setdefault(OVERWRITTEN, {})
    written: set[str] = set()
    st.session_state[WRITTEN] = written
    if applied.get(page) != query and overwritten.get(page) != query:
        applied[page] = query
        for link in links:
            # A widget drawn on this page holds its own state, which only a write changes; a
            # widget not drawn yet (the page was just opened) starts from its linked default.
            # A link without the parameter of a widget with no neutral value (the application
            # chosen) leaves it: a selectbox set to None would show nothing chosen.
            value = link.value_of(query.get(link.param))
            if link.key in st.session_state and value is not None:
                st.session_state[link.key] = value
                written.add(link.key)
        return True
    # The browser's URL may still be the one this page last wrote over (a click sent before
    # the write reached it): not a link, the widgets stay and the write-back below repeats.
    # Once the URL has caught up, that old query is a link again (Back).
    if query == applied.get(page):
        overwritten.pop(page, None)
    before = dict(query)
    for link in links:
        if link.key not in st.session_state:  # not drawn (yet, or for this role): left as is
            continue
        text = link.text_of(st.session_state[link.key])
        if text is None:
            query.pop(link.param, None)
            if link.param in st.query_params:
                del st.query_params[link.param]
        elif query.get(link.param) != text:
            query[link.param] = text
            st.query_params[link.param] = text
    if query != before:
        overwritten[page] = before
    applied[page] = query
    return False


def _written(link: QueryLink) -> bool:
    """Whether :func:`follow_query` wrote the widget's value in this run. That run sends the
    value itself, and Streamlit warns about a widget given both a default and a value set
    through ``st.session_state``: its default stays Streamlit's own for that one run."""
    return link.key in st.session_state.get(WRITTEN, ())


def linked_index(link: QueryLink, options: Sequence[Any]) -> int:
    """The ``index`` for the widget of ``link``: the option the URL names, else the neutral
    one, else the first."""
    if _written(link):
        return 0
    for value in (link.value_of(st.query_params.get(link.param)), link.neutral):
        if value is not None and value in options:
            return list(options).index(value)
    return 0


def linked_text(link: QueryLink) -> str:
    """The ``value`` for the text input of ``link``: the URL's text, else empty."""
    if _written(link):
        return ""
    value = link.value_of(st.query_params.get(link.param))
    return "" if value is None else str(value)
