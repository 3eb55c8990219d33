"""The reports' charts as SVG documents, drawn server-side with matplotlib (no JavaScript anywhere).

Why matplotlib: the most widely used and best maintained Python plotting library; its SVG backend
escapes every text it writes (checked by the tests with a hostile site name); it keeps text as
text (``svg.fonttype = none``: searchable, sharp when printed); a fixed ``svg.hashsalt`` and no date
in the metadata make the same data give the same bytes; and the PNG plots a later issue asks for come
from the same code. pygal was the lighter choice, but its charts want JavaScript for tooltips and
rely on an inline ``<style>`` as matplotlib does. Only the object API is used (``Figure``, never
``pyplot``): no global figure state shared between request threads; the rc settings are applied
under a lock because ``rc_context`` changes process-wide defaults while it is open.

May import matplotlib and markupsafe; no flask, no database.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence

import matplotlib
from markupsafe import escape
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

_LOCK = threading.Lock()
#: readable on screen and on an A4 page
_SIZE = (9.0, 3.2)
#: at most this many labels under a time axis (every n-th day otherwise)
_MAX_TICKS = 16
_COLOURS = ("#1f5f8b", "#c0392b", "#e67e22", "#27ae60", "#8e44ad", "#7f8c8d", "#16a085", "#d35400")


def _plain(*texts: Text) -> None:
    """Outside text is shown as written: a ``$`` in a site name must not start matplotlib's math."""
    for t in texts:
        t.set_parse_math(False)
        t.set_usetex(False)


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=_SIZE, layout="constrained")
    FigureCanvasSVG(fig)
    return fig, fig.add_subplot()


def _svg(fig: Figure, name: str, title: str) -> str:
    """The figure as an SVG document whose first child is a ``<title>`` (screen readers, tooltips).
    The salt is the chart's name, so two charts of one page never share an element id."""
    buf = io.StringIO()
    with _LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"anigate-{name}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    head, sep, rest = text.partition(">\n <metadata>")
    if not sep:  # pragma: no cover - matplotlib changed its layout; keep the chart without a title
        return text
    label = f'<title id="title">{escape(title)}</title>'
    return f'{head} role="img" aria-labelledby="title">\n {label}\n <metadata>{rest}'


def _thin_ticks(ax: Axes, labels: Sequence[str]) -> None:
    step = max(1, math.ceil(len(labels) / _MAX_TICKS))
    positions = list(range(0, len(labels), step))
    ax.set_xticks(positions, [labels[i] for i in positions])
    ticks = ax.get_xticklabels()
    _plain(*ticks)
    if sum(len(labels[i]) for i in positions) > 60:  # many dates: slanted, so that they never overlap
        for t in ticks:
            t.set_rotation(40)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")


def _frame(ax: Axes, title: str, ylabel: str) -> None:
    _plain(ax.set_title(title, loc="left", fontsize=11))
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def bars(name: str, title: str, labels: Sequence[str], values: Sequence[float], ylabel: str) -> str:
    """One bar per label (calls per day, per hour of day, alarms per severity)."""
    fig, ax = _figure()
    ax.bar(range(len(values)), values, color=_COLOURS[0], width=0.8)
    _thin_ticks(ax, labels)
    _frame(ax, title, ylabel)
    return _svg(fig, name, title)


def stacked_bars(
    name: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], ylabel: str
) -> str:
    """One stack per label, one colour per series (anomalies per kind and day)."""
    fig, ax = _figure()
    bottom = [0] * len(labels)
    for i, (label, values) in enumerate(series):
        ax.bar(range(len(labels)), values, bottom=bottom, label=label, color=_COLOURS[i % len(_COLOURS)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _thin_ticks(ax, labels)
    _frame(ax, title, ylabel)
    if series:
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _plain(*legend.get_texts())
    return _svg(fig, name, title)


def paired_bars(
    name: str, title: str, labels: Sequence[str], pairs: Sequence[tuple[str, Sequence[float]]], ylabel: str
) -> str:
    """Bars side by side per label (median and p90 time to acknowledge per severity)."""
    fig, ax = _figure()
    width = 0.8 / max(1, len(pairs))
    for i, (label, values) in enumerate(pairs):
        xs = [x + (i - (len(pairs) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, values, width=width, label=label, color=_COLOURS[i % len(_COLOURS)])
    _thin_ticks(ax, labels)
    _frame(ax, title, ylabel)
    if pairs:
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _plain(*legend.get_texts())
    return _svg(fig, name, title)
