"""Time the relay's claim with a storm's backlog: ``--pending`` deliveries of distinct devices to one
sink, in a table nobody analysed (as right after a blackout), then rounds of claim-200 and mark
delivered, as the relay's loop does without the send.

    .venv/bin/python -m bench.relay_claim [--pending 100000] [--rounds 20]
        [--database-url postgresql+psycopg://...]   # default: a SQLite file in a temporary dir

The tables are dropped and made anew in that database: never point it at one that holds data.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, update

import integrations.models  # noqa: F401  (the tables)
import registry.models  # noqa: F401
from integrations import relay as r
from integrations.models import DELIVERED, PENDING, Delivery, SinkConfig
from registry.db import Base, make_engine, make_session_factory, utcnow


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pending", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--database-url")
    args = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'claim.db'}"
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        sink = SinkConfig(name="bench", kind="webhook", settings={}, secrets="", event_types=[])
        s.add(sink)
        s.commit()
        sink_id, now = sink.id, utcnow()
        rows = [
            {
                "sink_id": sink_id,
                "seq": i + 1,
                "event_id": f"{i:036d}",
                "event_type": "call.routed",
                "order_key": r.order_key(i, 1),
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "last_error": "",
            }
            for i in range(args.pending)
        ]
        for k in range(0, len(rows), 10_000):
            s.execute(insert(Delivery), rows[k : k + 10_000])
        s.commit()
    rounds, t0 = 0, time.perf_counter()
    while rounds < args.rounds:
        with factory() as s:
            taken = r.claim(s, sink_id, "bench", utcnow())
            s.commit()
            if not taken:
                break
            s.execute(update(Delivery).where(Delivery.id.in_([d.id for d in taken])).values(state=DELIVERED))
            s.commit()
        rounds += 1
    took = time.perf_counter() - t0
    print(
        f"{engine.dialect.name}, {args.pending} pending: {took / max(rounds, 1) * 1000:.1f} ms per claim of "
        f"{r.BATCH} and its mark ({rounds} rounds)"
    )
    Base.metadata.drop_all(engine)
    tmp.cleanup()


if __name__ == "__main__":
    main()
