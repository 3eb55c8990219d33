"""Time ``registry.queries.device_by_ani`` with 100,000 devices, for numbers written in several forms,
and the same through the REST API (``GET /api/v1/devices/by-ani/<n>``, Flask test client, token).

    .venv/bin/python -m bench.lookup_by_ani [--devices 100000] [--lookups 10000] [--http 2000]
        [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import phonenumbers
from phonenumbers import PhoneNumberFormat
from sqlalchemy import select

from bench.estate import build_reference_data, fresh_database, write_devices_csv
from registry.accounts import create_token, create_user
from registry.actors import Actor
from registry.choices import Role, TokenScope
from registry.csvio import import_csv
from registry.db import make_engine, make_session_factory
from registry.errors import NotFound
from registry.models import Device, Site
from registry.numbers import normalise_ani
from registry.queries import device_by_ani


def _forms(e164: str, country: str) -> dict[str, tuple[str, str]]:
    """(written form, region to read it with) per input form of one number."""
    number = phonenumbers.parse(e164)
    return {
        "e164": (e164, "DE"),
        "international": (phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL), "DE"),
        "national": (phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), country),
        "tel_uri": (phonenumbers.format_number(number, PhoneNumberFormat.RFC3966), "DE"),
        "sip_uri": (f"sip:{e164}@192.0.2.10:5060;user=phone", "DE"),
    }


def _stats(samples_ns: list[int]) -> str:
    us = sorted(s / 1000 for s in samples_ns)
    p99 = us[min(len(us) - 1, int(len(us) * 0.99))]
    return (
        f"n={len(us):>6}  mean {statistics.fmean(us):8.1f} µs  p50 {statistics.median(us):8.1f} µs  "
        f"p99 {p99:8.1f} µs"
    )


def _time(call: Callable[[], object], samples: list[int]) -> None:
    t0 = time.perf_counter_ns()
    call()
    samples.append(time.perf_counter_ns() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=10_000, help="per input form, in-process")
    parser.add_argument("--http", type=int, default=2_000, help="per input form, through the API")
    parser.add_argument("--database-url", help="PostgreSQL URL; a throw-away schema is created in it")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with (
        tempfile.TemporaryDirectory(prefix="anigate-bench-ani-") as tmp,
        fresh_database(args.database_url) as url,
    ):
        path = Path(tmp) / "devices.csv"
        write_devices_csv(path, args.devices)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            build_reference_data(session)
            with path.open(encoding="utf-8", newline="") as stream:
                report = import_csv(session, Actor.system("csv", "bench"), "device", stream)
            assert report.ok and report.created == args.devices, report.errors[:5]
        print(f"database: {engine.dialect.name}, {args.devices} devices")
        with factory() as session:
            known = session.execute(
                select(Device.ani, Site.country).join(Site, Site.id == Device.site_id)
            ).all()
        picks = [tuple(r) for r in rng.sample(known, min(args.lookups, len(known)))]
        # numbers in the same plans that no device has: the "unknown caller" path
        taken = {ani for ani, _ in known}
        misses = [(f"+4930{n:08d}", "DE") for n in rng.sample(range(90000000, 99999999), args.lookups)]
        assert not taken.intersection(m for m, _ in misses)

        admin = Actor.system("bench", "bench")
        print("\nin-process: registry.queries.device_by_ani(session, actor, raw, region), one session")
        with factory() as session:
            for e164, country in picks[:200]:  # warm caches and the connection
                device_by_ani(session, admin, e164, country)
            for form in ("e164", "international", "national", "tel_uri", "sip_uri"):
                parse_ns: list[int] = []
                lookup_ns: list[int] = []
                for e164, country in picks:
                    raw, region = _forms(e164, country)[form]
                    _time(lambda raw=raw, region=region: normalise_ani(raw, region), parse_ns)
                    _time(
                        lambda raw=raw, region=region: device_by_ani(session, admin, raw, region), lookup_ns
                    )
                print(f"  {form:<14} lookup {_stats(lookup_ns)}   (normalise_ani alone: p50 "
                      f"{statistics.median(parse_ns) / 1000:.1f} µs)")  # fmt: skip
                session.expunge_all()
            miss_ns: list[int] = []
            for raw, region in misses:
                _time(lambda raw=raw, region=region: _miss(session, admin, raw, region), miss_ns)
            print(f"  {'unknown':<14} lookup {_stats(miss_ns)}   (NotFound)")

        _http(url, picks, args.http, rng)
        engine.dispose()
    return 0


def _miss(session, admin, raw, region) -> None:  # type: ignore[no-untyped-def]
    try:
        device_by_ani(session, admin, raw, region)
    except NotFound:
        return
    raise AssertionError(f"{raw} should be unknown")


def _http(url: str, picks: list[tuple[str, str]], n: int, rng: random.Random) -> None:
    from app import create_app
    from config import Settings

    with tempfile.TemporaryDirectory(prefix="anigate-bench-app-") as instance:
        settings = Settings.from_env(
            {}, database_url=url, instance_dir=Path(instance), secret_key="bench", demo=False
        )
        app = create_app(settings)
        if not any(rule.endpoint.endswith("device_by_ani") for rule in app.url_map.iter_rules()):
            print("\nHTTP: no GET /api/v1/devices/by-ani/<n> route in this build; skipped")
            return
        services = app.extensions["anigate"]
        with services.session_factory.begin() as session:
            user = create_user(session, "bench", "bench-password-1", Role.ADMIN)
            _token, secret = create_token(session, user, "bench", [TokenScope.REGISTRY_READ.value])
        headers = {"Authorization": f"Bearer {secret}"}
        client = app.test_client()
        sample = rng.sample(picks, min(n, len(picks)))
        print("\nHTTP: GET /api/v1/devices/by-ani/<n> through Flask's test client (no socket), bearer token")
        for e164, _country in sample[:100]:
            assert (
                client.get(f"/api/v1/devices/by-ani/{quote(e164, safe='')}", headers=headers).status_code
                == 200
            )
        for form in ("e164", "national", "tel_uri", "sip_uri"):
            samples: list[int] = []
            for e164, country in sample:
                raw, region = _forms(e164, country)[form]
                target = f"/api/v1/devices/by-ani/{quote(raw, safe='')}" + (
                    f"?region={region}" if form == "national" else ""
                )
                t0 = time.perf_counter_ns()
                response = client.get(target, headers=headers)
                samples.append(time.perf_counter_ns() - t0)
                assert response.status_code == 200, (
                    target,
                    response.status_code,
                    response.get_data(as_text=True),
                )
                assert response.get_json()["ani"] == e164
            print(f"  {form:<14} request {_stats(samples)}")
        services.close()


if __name__ == "__main__":
    sys.exit(main())
