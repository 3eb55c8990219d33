"""The background process: SIP listener, registry snapshot refresher and call recorder.

``python worker.py`` runs until SIGTERM or SIGINT, then stops listening, drains the call journal into
the database and exits. Scheduled jobs (APScheduler) and the outbox relay join it in later issues.
It prints ``READY <host> <port>`` once the listener is bound (tests start it with port 0).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bootstrap import build_services
from config import Settings
from routing.history import CallMemory
from routing.journal import JournalWriter
from routing.queries import recent_calls
from routing.recorder import run_in_child
from routing.redirect import RedirectService
from routing.snapshot import SnapshotHolder, SnapshotOptions, SnapshotRefresher
from sip.listener import ListenerConfig, SipServer

log = logging.getLogger("anigate.worker")


def load_trust_store(folder: Path | None) -> dict[str, bytes] | None:
    """STIR/SHAKEN certificates by URL, from ``index.json`` ({"https://...pem": "file.pem"})."""
    if folder is None:
        return None
    index = json.loads((folder / "index.json").read_text())
    return {url: (folder / name).read_bytes() for url, name in index.items()}


def listener_config(settings: Settings) -> ListenerConfig:
    return ListenerConfig(
        host=settings.sip_host,
        port=settings.sip_port,
        unknown_source=settings.sip_unknown_source,
        pike_requests=settings.sip_pike_requests,
        pike_window=settings.sip_pike_window,
        pike_block=settings.sip_pike_block,
        tcp_idle_timeout=settings.sip_tcp_idle_timeout,
        tcp_message_timeout=settings.sip_tcp_message_timeout,
        tcp_max_connections=settings.sip_tcp_max_connections,
        tcp_max_per_source=settings.sip_tcp_max_per_source,
        tcp_max_per_trusted_source=settings.sip_tcp_max_per_trusted_source,
    )


async def serve(settings: Settings) -> None:
    # signals first: a SIGTERM that arrives while starting must still mean "stop gracefully"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services = build_services(settings)
    holder = SnapshotHolder()
    refresher = SnapshotRefresher(holder, services.session_factory, SnapshotOptions.from_settings(settings))
    while True:  # the registry must be readable once before calls can be answered
        try:
            refresher.refresh()
            break
        except Exception as exc:
            log.error("cannot read the registry yet (%s); retrying in 1 s", exc)
            if stop.is_set():
                services.close()
                return
            await asyncio.sleep(1)
    assert settings.journal_dir is not None
    journal = JournalWriter(settings.journal_dir)
    # the recorder drains the journal into the database in its own process (no GIL shared with SIP)
    ctx = multiprocessing.get_context("spawn")
    recorder_stop = ctx.Event()
    recorder = ctx.Process(
        target=run_in_child,
        args=(settings, recorder_stop, os.getpid()),
        name="anigate-recorder",
        daemon=False,
    )
    recorder.start()
    refresher.start()
    history = CallMemory()
    try:  # repeat callers and call floods survive a restart
        with services.session_factory() as session:
            since = datetime.fromtimestamp(time.time() - history.horizon, UTC)
            log.info("call memory seeded with %d recent calls", history.seed(recent_calls(session, since)))
    except Exception as exc:
        log.warning("call memory starts empty: %s", exc)
    handler = RedirectService(
        holder, journal, trust_store=load_trust_store(settings.stir_trust_dir), history=history
    )
    server = SipServer(handler, listener_config(settings))
    # Everything loaded so far (modules, numbering-plan metadata, the snapshot) lives as long as
    # the process: keep it out of the garbage collector's full passes, which otherwise rescan
    # hundreds of thousands of objects while calls wait.
    # Young objects of a call die young; collect them less often, so that the occasional full
    # pass over the caches does not stall the loop every few seconds (seen as p99 spikes).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    await server.start()
    print(f"READY {settings.sip_host} {server.port}", flush=True)

    await stop.wait()
    log.info("stopping: %s", dict(server.stats.counts))
    t0 = time.monotonic()
    await server.stop()
    refresher.stop()
    journal.close()
    recorder_stop.set()
    await asyncio.to_thread(recorder.join, 60)
    services.close()
    log.info("stopped in %.2f s (recorder exit code %s)", time.monotonic() - t0, recorder.exitcode)


def main() -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
