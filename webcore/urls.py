"""URL converters shared by the web pages and the API: ``<id:name>`` is a database id or no match.

May import werkzeug, flask and ``registry.db`` (for the id range).
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from registry.db import MAX_ID


def range_regex(high: int) -> str:
    """A regex of the decimal numbers 1..``high`` (no sign, no leading zero).

    The range is in the pattern, not only in ``to_python``: werkzeug answers 405 instead of 404 when
    a path fits the pattern of another method's rule and only the converter refuses it.
    """
    top = str(high)
    alternatives = [rf"[1-9][0-9]{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(top) - i - 1
            alternatives.append(top[:i] + f"[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(top)
    return "(?:" + "|".join(alternatives) + ")"


class IdConverter(IntegerConverter):
    """1..MAX_ID; anything else (``2**63``, ``0``, ``-1``, ``007``) matches no route, so 404.

    A path id beyond the database's integer range would otherwise reach the driver and overflow
    (SQLite: ``OverflowError``; PostgreSQL: out of range for ``integer``) and answer 500.
    """

    regex = range_regex(MAX_ID)

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def init_app(app: Flask) -> None:
    """Register ``<id:...>``; call before any blueprint whose rules use it is registered."""
    app.url_map.converters["id"] = IdConverter
