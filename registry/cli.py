"""``flask --app app ...`` commands for the registry: database, users, tokens, demo data, CSV files.

An entry point like the API and the web pages: it builds an :class:`Actor` and calls use cases.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from registry.accounts import create_token, create_user, list_tokens, parse_expiry, revoke_token, token_state
from registry.actors import Actor
from registry.choices import DeviceKind, DeviceStatus, LocationKind, Role, TokenScope
from registry.csvio import ImportReport, Progress, export_csv, import_csv
from registry.db import unit_of_work
from registry.errors import RegistryError, ValidationFailed
from registry.models import Device, SecurityCenter, User
from registry.services import REGIONS

ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database schema (alembic migrations).")
users_cli = AppGroup("users", help="People who log in.")
tokens_cli = AppGroup("tokens", help="REST API bearer tokens.")
demo_cli = AppGroup("demo", help="The demo estate.")
devices_cli = AppGroup("devices", help="Devices: CSV import and export.")
sites_cli = AppGroup("sites", help="Sites: CSV import and export.")
locations_cli = AppGroup("locations", help="Locations inside sites: CSV import and export.")


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


def _cli_actor() -> Actor:
    return Actor.system("cli")


def _user_named(session: Any, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise ValidationFailed({"username": f"no user {username!r}"})
    return user  # type: ignore[no-any-return]


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
    help="Repeat for several. calls:route only for users with role admin or integration.",
)
@click.option("--expires", help="30d, 12h, 2w from now, or a date (2027-01-01, UTC); default: never.")
def tokens_create(username: str, name: str, scopes: tuple[str, ...], expires: str | None) -> None:
    """Create an API token for USERNAME and print its secret (shown only this once)."""
    try:
        with unit_of_work(_services().session_factory) as session:
            user = _user_named(session, username)
            expires_at = parse_expiry(expires)
            _token, secret = create_token(session, user, name, scopes, expires_at, actor=_cli_actor())
            click.echo(secret)
    except RegistryError as exc:
        _fail(exc)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ") if value else "-"


@tokens_cli.command("list")
@click.argument("username", required=False)
def tokens_list(username: str | None) -> None:
    """List tokens (of USERNAME, else everyone's), tab-separated: id, user, name, prefix, scopes,
    created, last used, expires, state. Secrets are never stored, so never shown."""
    try:
        with unit_of_work(_services().session_factory) as session:
            user_id = _user_named(session, username).id if username else None
            click.echo("id\tuser\tname\tprefix\tscopes\tcreated\tlast_used\texpires\tstate")
            for t in list_tokens(session, _cli_actor(), user_id):
                fields = [
                    str(t.id),
                    t.user.username,
                    t.name,
                    t.prefix,
                    ",".join(t.scopes),
                    _when(t.created_at),
                    _when(t.last_used_at),
                    _when(t.expires_at) if t.expires_at else "never",
                    token_state(t),
                ]
                click.echo("\t".join(fields))
    except RegistryError as exc:
        _fail(exc)


@tokens_cli.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Revoke a token by its id or its prefix (ag_..., as `tokens list` shows): it is refused at once."""
    try:
        with unit_of_work(_services().session_factory) as session:
            revoked = revoke_token(session, _cli_actor(), token)
            click.echo(
                f"revoked token {revoked.id} {revoked.name} ({revoked.prefix}) of {revoked.user.username}"
            )
    except RegistryError as exc:
        _fail(exc)


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the registry has no device yet.")
@click.option(
    "--first-start", is_flag=True, help="As `make run` does: --if-empty, and only when ANIGATE_DEMO is on."
)
def demo_load(if_empty: bool, first_start: bool) -> None:
    """Seed the demo estate (2 centers, 3 sites in 2 countries, trunks, ~30 devices) and a login
    per role, whose random passwords are printed this once."""
    from registry.demo import create_demo_logins, load_demo

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
        logins = create_demo_logins(session)
    click.echo("demo loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if not logins:
        return
    # after the commit: a password shown is one that works; only its hash is stored
    settings = services.settings
    click.echo(
        f"demo logins for http://{settings.http_host}:{settings.http_port}/ "
        "(passwords shown only now; change them under Users):"
    )
    width = max(len(login.username) for login in logins)
    for login in logins:
        click.echo(f"  {login.username:<{width}}  {login.password}  {login.role.label}: {login.sees}")


DEMO_ANI = "+493023905601"  # the demo estate's Spree Tower, North core, Lift 1


@demo_cli.command("call")
@click.argument("ani", default=DEMO_ANI)
def demo_call(ani: str) -> None:
    """Place a SIP INVITE from ANI (default: the demo lift +493023905601) to the running listener
    (ANIGATE_SIP_HOST:ANIGATE_SIP_PORT) over UDP from 127.0.0.1, and print the answer."""
    import socket
    import time

    from registry.numbers import InvalidNumber, normalise_ani
    from sip.uac import TIMER_LIMIT, build_ack, build_invite, describe, match_response, retransmit_times

    settings = _services().settings
    try:
        e164 = normalise_ani(ani, settings.default_region)
    except InvalidNumber as exc:
        click.echo(f"error: ANI: {exc}", err=True)
        raise SystemExit(2) from None
    host = "127.0.0.1" if settings.sip_host in ("", "0.0.0.0", "::") else settings.sip_host
    target = (host, settings.sip_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        invite = build_invite(e164, local=sock.getsockname(), target=target)
        start = time.monotonic()
        sock.sendto(invite.data, target)
        resend = [start + at for at in retransmit_times()]  # Timer A, until a provisional or final
        deadline = start + TIMER_LIMIT
        final = None
        while final is None:
            now = time.monotonic()
            if resend and now >= resend[0]:
                sock.sendto(invite.data, target)
                resend.pop(0)
                continue
            if now >= deadline:
                click.echo(
                    f"error: no answer from {host}:{settings.sip_port} within {TIMER_LIMIT:g} s: "
                    "is `make run` running?",
                    err=True,
                )
                raise SystemExit(1)
            sock.settimeout(min([deadline, *resend[:1]]) - now)
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            response = match_response(data, invite)
            if response is None:
                continue
            if response.status < 200:
                resend.clear()  # Proceeding: no more retransmissions (RFC 3261 §17.1.1.2)
            else:
                final = response
        if final.status >= 300:
            sock.sendto(build_ack(invite, final), target)  # same branch (§17.1.1.3)
    click.echo(f"call from {e164} to {host}:{settings.sip_port}: {describe(final)}")
    if final.status >= 400:
        raise SystemExit(1)


# --- CSV import and export --------------------------------------------------------------------------


def _csv_actor() -> Actor:
    return Actor.system("csv", "cli")


@contextmanager
def _progress_bar(label: str) -> Iterator[Progress | None]:
    """A click progress bar on stderr when it is a terminal (the total is known once rows are read)."""
    if not sys.stderr.isatty():
        yield None
        return
    with ExitStack() as stack:
        bars: list[Any] = []

        def update(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=total, label=label, file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        yield update


def _print_report(report: ImportReport, plural: str) -> None:
    for error in report.errors:
        click.echo(str(error), err=True)
    counts = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    bad = f", {report.bad_rows} bad" if report.errors else ""
    if report.dry_run:
        click.echo(
            f"{plural}: dry run, nothing written: {report.rows} rows{bad}; an import would give {counts}"
        )
    elif report.written:
        click.echo(f"{plural}: {report.rows} rows{bad}; {counts}")
    else:
        click.echo(f"{plural}: nothing imported: {report.rows} rows{bad}", err=True)


def _run_import(
    object_type: str, plural: str, file: str, dry_run: bool, region: str | None, skip: bool
) -> None:
    services = _services()
    try:
        with click.open_file(file, encoding="utf-8-sig") as stream:
            text = stream.read()
    except UnicodeDecodeError as exc:
        click.echo(f"error: {file} is not UTF-8 text ({exc.reason} at byte {exc.start})", err=True)
        raise SystemExit(1) from None
    try:
        with (
            _progress_bar(f"checking {plural}") as progress,
            unit_of_work(services.session_factory) as session,
        ):
            report = import_csv(
                session,
                _csv_actor(),
                object_type,
                io.StringIO(text, newline=""),
                dry_run=dry_run,
                all_or_nothing=not skip,
                default_region=region or services.settings.default_region,
                progress=progress,
            )
    except RegistryError as exc:
        _fail(exc)
        return
    except IntegrityError as exc:
        # someone else wrote a clashing row (same ANI, slug, place) between our check and insert
        click.echo(
            f"error: the registry changed during the import, nothing was written: {exc.orig}", err=True
        )
        raise SystemExit(1) from None
    _print_report(report, plural)
    if report.errors:
        raise SystemExit(1)


def _check_region(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value.upper() not in REGIONS:
        raise click.BadParameter(f"{value!r} is not an ISO 3166 country code known to the numbering plans")
    return value and value.upper()


def _import_command(group: AppGroup, object_type: str, plural: str) -> None:
    @group.command(
        "import",
        help=f"""Create {plural} (rows without id) or update them (id column) from a CSV FILE.

        FILE is UTF-8 (a BOM is fine), separated by , or ; with a header line naming the columns
        (see `{plural} export`); - reads stdin. Every bad row is reported as
        `row N, column C: reason` and, unless --skip-bad-rows, one bad row imports nothing.
        Exit status 1 when any row is bad.""",
    )
    @click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
    @click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
    @click.option(
        "--region",
        callback=_check_region,
        help="Region for national-format numbers when neither the row's trunk nor its site gives one "
        "(default: ANIGATE_DEFAULT_REGION).",
    )
    @click.option("--skip-bad-rows", is_flag=True, help="Import the good rows even when some are bad.")
    def import_(file: str, dry_run: bool, region: str | None, skip_bad_rows: bool) -> None:
        _run_import(object_type, plural, file, dry_run, region, skip_bad_rows)


def _run_export(object_type: str, output: str, include_id: bool, **filters: Any) -> None:
    with ExitStack() as stack:
        if output == "-":
            out = sys.stdout
        else:
            out = stack.enter_context(open(output, "w", encoding="utf-8", newline=""))
        session = stack.enter_context(unit_of_work(_services().session_factory))
        n = export_csv(session, _csv_actor(), object_type, out, include_id=include_id, **filters)
    if output != "-":
        click.echo(f"{n} rows written to {output}", err=True)


_output = click.option("-o", "--output", default="-", help="File to write (default: stdout).")
_no_ids = click.option(
    "--no-ids", is_flag=True, help="Leave out the id column (to create the objects in another registry)."
)


@devices_cli.command("export")
@_output
@_no_ids
@click.option("--site", help="Site slug or id.")
@click.option("--kind", type=click.Choice(DeviceKind.values()))
@click.option("--status", type=click.Choice(DeviceStatus.values()))
def devices_export(output: str, no_ids: bool, site: str | None, kind: str | None, status: str | None) -> None:
    """Write devices as CSV, references by slug and name, so the file re-imports cleanly."""
    _run_export("device", output, not no_ids, site=site, kind=kind, status=status)


@sites_cli.command("export")
@_output
@_no_ids
@click.option("--country", help="ISO 3166 country code.")
def sites_export(output: str, no_ids: bool, country: str | None) -> None:
    """Write sites as CSV, centers and schedules by name."""
    _run_export("site", output, not no_ids, country=country)


@locations_cli.command("export")
@_output
@_no_ids
@click.option("--site", help="Site slug or id.")
@click.option("--kind", type=click.Choice(LocationKind.values()))
def locations_export(output: str, no_ids: bool, site: str | None, kind: str | None) -> None:
    """Write locations as CSV, the site by slug."""
    _run_export("location", output, not no_ids, site=site, kind=kind)


_import_command(devices_cli, "device", "devices")
_import_command(sites_cli, "site", "sites")
_import_command(locations_cli, "location", "locations")

COMMANDS = (db_cli, users_cli, tokens_cli, demo_cli, devices_cli, sites_cli, locations_cli)
