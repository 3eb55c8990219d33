"""One commit point per request: views and API handlers commit through ``webcore.context.commit``,
whose after-commit hooks run only when the request's unit of work committed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.models import ChangeLog
from registry.services import create_object
from tests import factories as f
from webcore.context import after_commit, commit, db

ROOT = Path(__file__).resolve().parents[3]
#: the modules that answer requests
REQUEST_MODULES = sorted(
    [*ROOT.glob("registry/web/*.py"), *ROOT.glob("registry/api/*.py"), ROOT / "routing/api.py"]
    + [p for p in ROOT.glob("alarms/**/*.py") if {"api", "web"} & set(p.relative_to(ROOT).parts)]
)


@pytest.mark.parametrize("path", REQUEST_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_request_handler_commits_by_itself(path: Path) -> None:
    tree = ast.parse(path.read_text())
    direct = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
    ]
    assert direct == [], f"{path.name} line {direct}: call webcore.context.commit() instead"


def test_after_commit_hooks_run_once_the_unit_of_work_committed(app) -> None:
    ran: list[str] = []
    with app.test_request_context("/"):
        create_object(db(), f.ADMIN, "center", {"name": "Berlin", "sip_uris": ["sip:b@127.0.0.1"]})
        after_commit(lambda: ran.append("after"))
        assert ran == []
        commit()
        assert ran == ["after"]
    with app.test_request_context("/"):
        assert db().scalar(select(func.count()).select_from(ChangeLog)) == 1


def test_a_request_that_does_not_commit_runs_no_hook_and_keeps_nothing(app) -> None:
    ran: list[str] = []
    with app.test_request_context("/"):
        create_object(db(), f.ADMIN, "center", {"name": "Berlin", "sip_uris": ["sip:b@127.0.0.1"]})
        after_commit(lambda: ran.append("after"))
    assert ran == []
    with app.test_request_context("/"):
        assert db().scalar(select(func.count()).select_from(ChangeLog)) == 0
