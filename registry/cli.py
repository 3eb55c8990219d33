"""``flask --app app ...`` commands for the registry: database, users, tokens, demo data.

An entry point like the API and the web pages: it builds an :class:`Actor` and calls use cases.
"""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from registry.accounts import create_token, create_user
from registry.choices import Role, TokenScope
from registry.db import unit_of_work
from registry.errors import RegistryError, ValidationFailed
from registry.models import Device, SecurityCenter, User

ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database schema (alembic migrations).")
users_cli = AppGroup("users", help="People who log in.")
tokens_cli = AppGroup("tokens", help="REST API bearer tokens.")
demo_cli = AppGroup("demo", help="The demo estate.")


def _services():  # type: ignore[no-untyped-def]
    return current_app.extensions["anigate"]


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    upgrade_database(_services().settings.database_url, revision)
    click.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    command.current(alembic_config(_services().settings.database_url))


def _fail(exc: RegistryError) -> None:
    if isinstance(exc, ValidationFailed):
        for field, message in exc.errors.items():
            click.echo(f"error: {field}: {message}", err=True)
    else:
        click.echo(f"error: {exc}", err=True)
    raise SystemExit(1)


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(Role.values()), default=Role.ADMIN.value, show_default=True)
@click.option("--site", "sites", multiple=True, help="Site slug or id (facility managers); repeat.")
@click.option("--center", help="Security center name or id (operators).")
@click.password_option(help="Prompted for when not given (at least 10 characters).")
def users_create(username: str, role: str, sites: tuple[str, ...], center: str | None, password: str) -> None:
    """Create a user; `flask --app app users create admin` makes the first administrator."""
    try:
        with unit_of_work(_services().session_factory) as session:
            user = create_user(session, username, password, role, sites, center)
            click.echo(f"created {user.role.value} {user.username} (id {user.id})")
    except RegistryError as exc:
        _fail(exc)


@users_cli.command("list")
def users_list() -> None:
    with unit_of_work(_services().session_factory) as session:
        for u in session.scalars(select(User).order_by(User.id)):
            scope = ",".join(s.slug for s in u.sites) or (u.center.name if u.center else "")
            click.echo(f"{u.id}\t{u.username}\t{u.role.value}\t{scope}")


@tokens_cli.command("create")
@click.argument("username")
@click.option("--name", default="api", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(TokenScope.values()),
    default=[TokenScope.REGISTRY_READ.value],
    show_default=True,
)
def tokens_create(username: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token for USERNAME and print its secret (shown only this once)."""
    try:
        with unit_of_work(_services().session_factory) as session:
            user = session.scalars(select(User).where(User.username == username)).first()
            if user is None:
                raise ValidationFailed({"username": f"no user {username!r}"})
            _token, secret = create_token(session, user, name, scopes)
            click.echo(secret)
    except RegistryError as exc:
        _fail(exc)


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the registry has no device yet.")
@click.option(
    "--first-start", is_flag=True, help="As `make run` does: --if-empty, and only when ANIGATE_DEMO is on."
)
def demo_load(if_empty: bool, first_start: bool) -> None:
    """Seed the demo estate: 2 centers, 3 sites in 2 countries, trunks, ~30 devices."""
    from registry.demo import load_demo

    services = _services()
    if first_start and not services.settings.demo:
        click.echo("ANIGATE_DEMO=0: demo data not loaded")
        return
    if_empty = if_empty or first_start
    with unit_of_work(services.session_factory) as session:
        has_data = session.scalar(select(func.count()).select_from(Device)) or session.scalar(
            select(func.count()).select_from(SecurityCenter)
        )
        if if_empty and has_data:
            click.echo("registry not empty: demo data not loaded")
            return
        counts = load_demo(session)
    click.echo("demo loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


COMMANDS = (db_cli, users_cli, tokens_cli, demo_cli)
