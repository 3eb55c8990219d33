"""The console page."""

from __future__ import annotations

from flask_login import login_required

from console import bp


@bp.get("/console/")
@login_required
def console() -> str:
    return "console"
