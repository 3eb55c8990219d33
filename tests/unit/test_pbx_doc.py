"""docs/deploy/pbx.md shows the Kamailio recipe that the e2e test runs: the file itself, unchanged."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"


def test_pbx_md_shows_the_tested_kamailio_recipe_verbatim() -> None:
    recipe = (DEPLOY / "kamailio-follow-302.cfg").read_text()
    blocks = re.findall(r"^```\n(.*?)^```$", (DEPLOY / "pbx.md").read_text(), flags=re.S | re.M)
    assert recipe in blocks


def test_the_recipe_hunts_serially() -> None:
    lines = (DEPLOY / "kamailio-follow-302.cfg").read_text().splitlines()
    recipe = "\n".join(line for line in lines if not line.lstrip().startswith("# "))
    # the serial part: without these two calls get_redirects() + t_relay() ring every center at once
    assert (
        recipe.index('get_redirects("*")')
        < recipe.index("t_load_contacts()")
        < recipe.index("t_next_contacts()")
    )
    assert "t_set_fr(ANIGATE_RING_MS, ANIGATE_SILENT_MS)" in recipe


def test_kamailio_md_shows_the_dispatcher_routing_the_e2e_test_runs_verbatim() -> None:
    from tests.e2e.kamailio import CONFIG

    routing = CONFIG[CONFIG.index("request_route {{") :].format().rstrip("\n")
    blocks = re.findall(r"^```\n(.*?)^```$", (DEPLOY / "kamailio.md").read_text(), flags=re.S | re.M)
    assert routing + "\n" in blocks
