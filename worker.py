"""The background process: SIP listener, registry snapshot refresher, two supervised child
processes and the worker's health row. The call recorder (``python worker.py --recorder FD``) drains
the call journal into the database, raises the alarms of the calls it records and runs the
supervision jobs on APScheduler; the event relay (``python worker.py --relay FD``) delivers the outbox
to MQTT, SNMP, webhooks and the VMS. Each has its own interpreter: neither takes the GIL from the
SIP loop, nor from the other (in one process the relay got 16 % of a storm's CPU beside the recorder
and the jobs).

``python worker.py`` runs until SIGTERM or SIGINT, then stops listening, has the recorder drain the
call journal (what a deadline or an absent database leaves stays in the journal for the next start)
and exits; a repeated signal or a stop that overruns its deadline ends it at once. It prints
``READY <host> <port>`` once the listener is bound (tests start it with port 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import functools
import gc
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alarms.jobs import JobRunner, JobSettings, build_scheduler
from bootstrap import SecretKeyMismatch, build_services, check_secret_key, secret_key
from config import Settings
from integrations import sinks
from integrations.relay import Relay
from integrations.secretbox import SecretBox
from integrations.sinks import apply_sinks_file
from ops.logs import configure_logging
from ops.sipmetrics import CallMetrics, MetricsServer, WorkerParts
from registry.db import utcnow
from routing.health import ChildState, SnapshotSource, WorkerReport, record_worker_status
from routing.history import CallMemory
from routing.journal import JournalWriter, checkpoint_name, instance_digest
from routing.queries import recent_calls
from routing.recorder import CallRecorder
from routing.redirect import RedirectService
from routing.snapshot import SnapshotHolder, SnapshotOptions
from routing.snapshot_file import KeepingRefresher, store_for
from sip.listener import ListenerConfig, SipServer

log = logging.getLogger("anigate.worker")

#: the whole stop of the worker; past it, every thread's stack is printed, the recorder killed and the
#: worker ends (faulthandler ends it a second later even if no Python code can run any more)
STOP_DEADLINE = 8.5
#: how long the worker waits for a child's last round (the recorder's drain) before it kills it
RECORDER_STOP_TIMEOUT = 6.0
#: the recorder drains for at most this long once told to stop (checked between batches); SIGALRM
#: ends it after the hard deadline whatever it is doing
RECORDER_DRAIN_SECONDS = 5.0
RECORDER_HARD_DEADLINE = 7
#: a signal this soon after the first is the same stop request: a signal to the process group reaches
#: the worker directly and again through scripts/run.sh
REPEAT_GRACE = 1.0
#: how often a supervisor looks at its child, and the worker writes its health row
WATCH_INTERVAL = 0.25
STATUS_INTERVAL = 2.0
#: how often calls held while the journal fails are tried again when no new call comes
HELD_RETRY_INTERVAL = 1.0


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


def job_settings(settings: Settings) -> JobSettings:
    return JobSettings(
        test_call_grace=timedelta(minutes=settings.test_call_grace_minutes),
        heartbeat_timeout=timedelta(minutes=settings.heartbeat_timeout_minutes),
        retention=timedelta(days=settings.retention_days),
        supervision_every=settings.supervision_interval,
        deadlines_every=settings.deadline_interval,
        expiry_every=max(settings.deadline_interval, min(30.0, settings.supervision_interval)),
        service_every=settings.deadline_interval,
        group_wait=timedelta(seconds=settings.alarm_group_wait),
        group_interval=timedelta(seconds=settings.alarm_group_interval),
    )


# --- the child processes: recorder and relay --------------------------------------------------------


class ChildStop:
    """What ends a child process (recorder or relay): SIGTERM or SIGINT (a signal to the process
    group reaches it directly), a byte on the control pipe (the worker asks), EOF on it (the worker
    died, even by SIGKILL), or a new parent. A watcher thread sees each of them at once, even while
    the main thread is stuck inside the database driver, and arms SIGALRM: whatever the child is
    doing, it ends ``RECORDER_HARD_DEADLINE`` seconds later. A second signal ends it at once (the
    default action). Either is safe: the recorder's checkpoint commits with the rows, so an
    interrupted batch is stored again on the next start; a delivery the relay was sending stays
    claimed until its claim expires and is sent again (at least once)."""

    def __init__(self, control_fd: int):
        self.control_fd = control_fd
        self.parent_pid = os.getppid()
        self.reason = ""
        self._requested = threading.Event()
        self._wake, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)  # the C handler writes the signal's number there at once
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        threading.Thread(target=self._watch, name="recorder-stop", daemon=True).start()

    @staticmethod
    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)

    def _watch(self) -> None:
        while not self.reason:
            readable, _, _ = select.select([self.control_fd, self._wake], [], [], 1.0)
            if self._wake in readable:
                signum = os.read(self._wake, 1)[0]
                self.reason = signal.Signals(signum).name
            elif self.control_fd in readable:
                self.reason = "the worker asked" if os.read(self.control_fd, 1) else "the worker is gone"
            elif os.getppid() != self.parent_pid:
                self.reason = "the worker is gone"
        signal.alarm(RECORDER_HARD_DEADLINE)
        self._requested.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` seconds (None: until there is one) for a stop request; True once
        there is one."""
        return self._requested.wait(timeout)


def run_recorder(settings: Settings, control_fd: int) -> int:
    """Entry point of the recorder process: drains the call journal into the database, so that the
    worker's event loop never waits on the database (nor on a GIL held by database work)."""
    # Below the SIP loop in the scheduler's eyes: under a burst the journal absorbs the backlog and
    # the recorder catches up afterwards, instead of taking CPU from calls waiting for their 302.
    os.nice(10)
    configure_logging(settings, "recorder")
    stop = ChildStop(control_fd)
    services = build_services(settings)
    assert settings.journal_dir is not None
    apply_sinks(settings, services.session_factory)
    log.info("recording the calls of %s", settings.journal_dir)
    # alarms are raised here, in each batch's transaction with its calls: never on the SIP loop
    recorder = CallRecorder(
        services.session_factory,
        settings.journal_dir,
        max_pending=settings.max_pending_devices,
        observers=services.call_observers,
        checkpoint=checkpoint_name(settings.journal_dir, socket.gethostname()),
    )
    # the supervision jobs run here too, not in the worker: their database reads would hold the GIL
    # the SIP loop needs (seen as p99 44-96 ms instead of 8-16 ms at 2,000 calls/s). Each tick runs
    # once among all processes of the database (alarms.jobs); a recorder restarted restarts them.
    scheduler = None
    if settings.jobs:
        name = f"{socket.gethostname()}:{os.getpid()}"
        runner = JobRunner(services.session_factory, name, services.alarms, job_settings(settings))
        scheduler = build_scheduler(runner)
        scheduler.start()
    try:
        recorder.run(stop.wait)
        log.info("stopping (%s): draining the journal", stop.reason)
        if scheduler is not None:  # a running job finishes its tick (well under a second)
            scheduler.shutdown(wait=True)
            scheduler = None
        drained = recorder.drain_for(RECORDER_DRAIN_SECONDS)
        log.info("stopped: %d calls recorded%s", recorder.recorded, "" if drained else ", the rest journaled")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        services.close()
    return 0


def run_relay(settings: Settings, control_fd: int) -> int:
    """Entry point of the relay process: delivers the outbox to every enabled sink until stopped.
    Niced like the recorder: in a storm the outbox absorbs the burst and the relay catches up, the
    SIP loop keeps its core."""
    os.nice(10)
    configure_logging(settings, "relay")
    stop = ChildStop(control_fd)
    services = build_services(settings)
    relay = None
    try:
        log.info("relaying the outbox")
        backoff = RestartPolicy(initial=1.0)
        while not stop.wait(0):
            try:  # the database may be away at start: the events wait in the outbox meanwhile
                relay = start_relay(settings, services.session_factory)
                break
            except SQLAlchemyError as exc:
                delay = backoff.delay(0)
                log.warning("cannot read the sinks yet (%s); retrying in %.0f s", exc, delay)
                stop.wait(delay)
        stop.wait(None)
        log.info("stopping (%s)", stop.reason)
    finally:
        if relay is not None:  # each sink ends its round and says goodbye (MQTT: service offline)
            relay.stop(timeout=2.0)
        services.close()
    return 0


def instance_name(settings: Settings) -> str:
    """This instance's stable name among those of one database: the host and the digest its
    journal checkpoint is named by too (``routing.journal.instance_digest``)."""
    assert settings.journal_dir is not None
    host = socket.gethostname()
    return f"{host}-{instance_digest(settings.journal_dir, host)[:8]}"


def relay_key(settings: Settings, factory: sessionmaker[Session]) -> str | None:
    """The secret key the sinks' secrets are sealed with, None when this host's key is not the
    database's (it could not open them: the events wait in the outbox for a host with the right key,
    and the log says why at CRITICAL)."""
    try:
        check_secret_key(factory, settings, f"worker {instance_name(settings)}")
    except SecretKeyMismatch as exc:
        log.critical("events are not delivered from this host: %s", exc)
        return None
    return secret_key(settings)


def apply_sinks(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Apply the sinks file (``ANIGATE_SINKS_FILE``), if any. The recorder does it before it records
    the first call of this start: a sink the file creates starts at the outbox head, so it gets every
    event of this start's calls."""
    if settings.sinks_file is None or not settings.relay:
        return
    key = relay_key(settings, factory)
    if key is None:
        return
    with factory() as session:
        changed = apply_sinks_file(session, SecretBox(key), settings.sinks_file)
        session.commit()
    log.info("sinks file %s: %s", settings.sinks_file, ", ".join(changed) or "no change")


def start_relay(settings: Settings, factory: sessionmaker[Session]) -> Relay | None:
    """The relay of this process, None when this host's secret key is not the database's."""
    key = relay_key(settings, factory)
    if key is None:
        return None
    relay = Relay(
        factory,
        key,
        f"{socket.gethostname()}:{os.getpid()}",
        functools.partial(sinks.build, instance=instance_name(settings)),
        sinks.carries,
        retention=timedelta(days=settings.retention_days),
    )
    relay.start()
    return relay


# --- supervision of the children, from the worker's event loop --------------------------------------


class RestartPolicy:
    """Exponential backoff between restarts of a child that died: ``initial``, doubled each time up
    to ``cap``; a child that ran ``healthy_after`` seconds or more before dying starts it over."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0, healthy_after: float = 60.0):
        self.initial = initial
        self.cap = cap
        self.healthy_after = healthy_after
        self._next = initial

    def delay(self, ran_for: float) -> float:
        """The wait before the next start of a child that ran ``ran_for`` seconds."""
        if ran_for >= self.healthy_after:
            self._next = self.initial
        delay = self._next
        self._next = min(self.cap, delay * 2)
        return delay


def describe_exit(code: int) -> str:
    """A ``Popen.returncode`` in words: ``exit code 1`` or ``killed by SIGKILL``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


@dataclass(frozen=True)
class ChildRole:
    """One kind of child process: its name in the log, its command-line flag, what goes on while it
    is down and what becomes of its unfinished work when it is killed."""

    label: str
    flag: str
    meanwhile: str
    unfinished: str


RECORDER = ChildRole(
    "call recorder",
    "--recorder",
    meanwhile="calls go on into the journal",
    unfinished="its calls stay in the journal for the next start",
)
RELAY = ChildRole(
    "event relay",
    "--relay",
    meanwhile="events wait in the outbox",
    unfinished="what it was sending goes out again once its claim expires",
)


def child_command(role: ChildRole) -> list[str]:
    """``python worker.py --recorder`` or ``--relay``; the supervisor appends the control pipe's fd."""
    return [sys.executable, str(Path(__file__).resolve()), role.flag]


class ChildSupervisor:
    """Runs one child process (``label``: "call recorder", "event relay") and starts it again when it
    dies (at ERROR in the log, saying what goes on meanwhile, with backoff), and reports its state for
    the health row. Never blocks the event loop: spawns run in a thread, a death is noticed by a
    non-blocking ``waitpid`` every ``WATCH_INTERVAL``, and the stop request is a byte on a pipe (no
    lock shared with the child, which a killed child could leave held)."""

    def __init__(
        self,
        role: ChildRole,
        command: list[str] | None = None,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.role = role
        self.label = role.label
        self.command = command or child_command(role)
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.state = ChildState.DOWN
        self.restarts = 0
        self.last_error = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._control = -1
        self._started = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._spawning: asyncio.Future[None] | None = None
        #: called on each state change (the health row is written at once, not at the next beat)
        self.on_change: Callable[[], None] = lambda: None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _spawn(self) -> None:
        """Start the child with the read end of a fresh control pipe (runs in a thread)."""
        if self._stopping:
            return
        read_end, write_end = os.pipe()  # both non-inheritable: only the child gets the read end
        try:
            # stdout to the worker's stderr: the worker's stdout carries its READY line alone
            self.proc = subprocess.Popen(
                [*self.command, str(read_end)], pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=2
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        self._control = write_end
        self._started = self.clock()

    async def _start_child(self) -> None:
        self._spawning = asyncio.ensure_future(asyncio.to_thread(self._spawn))
        await asyncio.shield(self._spawning)

    async def start(self) -> None:
        await self._start_child()
        if self.proc is None:  # the worker is stopping already
            return
        self.state = ChildState.RUNNING
        log.info("%s started (pid %s)", self.label, self.pid)
        self._task = asyncio.create_task(self._supervise(), name=f"{self.label} supervisor")
        self._task.add_done_callback(self._supervision_ended)

    def _supervision_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s supervision failed: it is unwatched", self.label, exc_info=task.exception())

    def _close_control(self) -> None:
        if self._control >= 0:
            os.close(self._control)
            self._control = -1

    async def _supervise(self) -> None:
        while True:
            assert self.proc is not None
            while (code := self.proc.poll()) is None:
                await asyncio.sleep(WATCH_INTERVAL)
            self._close_control()
            if self._stopping:  # it got the stop signal too (a signal to the process group)
                return
            ran_for = self.clock() - self._started
            delay = self.policy.delay(ran_for)
            self.state = ChildState.RESTARTING
            self.last_error = f"{describe_exit(code)} after {ran_for:.0f} s"
            self.on_change()
            log.error(
                "%s (pid %d) died: %s after %.1f s; %s; starting it again in %.1f s",
                self.label,
                self.proc.pid,
                describe_exit(code),
                ran_for,
                self.role.meanwhile,
                delay,
            )
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._start_child()
                    break
                except OSError as exc:
                    self.state = ChildState.DOWN
                    self.last_error = f"cannot start: {exc}"
                    self.on_change()
                    delay = self.policy.delay(0)
                    log.error("cannot start the %s (%s); trying again in %.1f s", self.label, exc, delay)
            if self._stopping:
                return
            self.restarts += 1
            self.state = ChildState.RUNNING
            self.on_change()
            log.warning("%s started again (pid %s, restart %d)", self.label, self.pid, self.restarts)

    def stopping(self) -> None:
        """No more restarts from now on: the worker is stopping (the child may exit any moment)."""
        self._stopping = True

    async def stop(self, timeout: float = RECORDER_STOP_TIMEOUT) -> int | None:
        """Ask the child to finish (the recorder drains) and exit; kill it after ``timeout`` (the
        journal and the outbox keep the rest)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._spawning is not None:  # a start under way completes before the stop goes on
            with contextlib.suppress(Exception):
                await self._spawning
        self.state = ChildState.DOWN
        proc = self.proc
        if proc is None:
            return None
        if self._control >= 0 and proc.poll() is None:
            with contextlib.suppress(OSError):  # the child may have died this instant
                os.write(self._control, b"s")
        self._close_control()
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            log.error(
                "%s (pid %d) did not stop within %.0f s; killing it (%s)",
                self.label,
                proc.pid,
                timeout,
                self.role.unfinished,
            )
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        return proc.returncode

    def kill(self) -> None:
        """End the child at once (the worker is exiting without a drain)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


# --- the worker's health row ------------------------------------------------------------------------


class StatusReporter:
    """Writes this worker's ``worker_status`` row every ``interval`` seconds, at once when poked (the
    recorder's state changed), and once more at stop, from its own thread: the database may be slow
    or away, and the event loop must not wait for it. It reads the SIP listener, the calls held by
    the redirect service and the snapshot's source without locks (single attribute reads)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        worker: str,
        supervisor: ChildSupervisor,
        journal_dir: Path,
        interval: float = STATUS_INTERVAL,
        *,
        relay: ChildSupervisor | None = None,
        server: SipServer | None = None,
        handler: RedirectService | None = None,
        refresher: KeepingRefresher | None = None,
    ):
        self.factory = factory
        self.worker = worker
        self.supervisor = supervisor
        self.relay = relay
        self.journal_dir = journal_dir
        self.interval = interval
        self.server = server
        self.handler = handler
        self.refresher = refresher
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-status", daemon=True)

    def report(self) -> WorkerReport:
        sup, relay, handler, refresher = self.supervisor, self.relay, self.handler, self.refresher
        held_since = handler.held_since if handler is not None else None
        from_disk = refresher.from_disk if refresher is not None else None
        return WorkerReport(
            worker=self.worker,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            recorder_state=sup.state,
            recorder_pid=sup.pid if sup.state == ChildState.RUNNING else None,
            recorder_restarts=sup.restarts,
            recorder_last_error=sup.last_error,
            sip_listening=self.server is not None and self.server.listening,
            calls_held=handler.held if handler is not None else 0,
            calls_held_since=datetime.fromtimestamp(held_since, UTC) if held_since is not None else None,
            calls_unjournaled=handler.unjournaled if handler is not None else 0,
            calls_lost=handler.lost if handler is not None else 0,
            snapshot_source=SnapshotSource.DISK if from_disk is not None else SnapshotSource.DATABASE,
            snapshot_taken_at=(
                from_disk.taken_at if from_disk is not None else refresher.taken_at if refresher else None
            ),
            relay_state=relay.state if relay is not None else ChildState.OFF,
            relay_pid=relay.pid if relay is not None and relay.state == ChildState.RUNNING else None,
            relay_restarts=relay.restarts if relay is not None else 0,
            relay_last_error=relay.last_error if relay is not None else "",
        )

    def write(self) -> None:
        report = self.report()
        with self.factory() as session:
            record_worker_status(
                session,
                report,
                utcnow(),
                self.journal_dir,
                checkpoint_name(self.journal_dir, socket.gethostname()),
            )
            session.commit()

    def _run(self) -> None:
        failing = False
        while True:
            final = self._stop.is_set()  # set after the supervisor's last state change
            try:
                self.write()
                if failing:
                    log.info("worker status written again")
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("cannot write the worker status (retrying): %s", exc)
                failing = True
            if final:
                return
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Write the row now rather than at the next beat (never blocks: the thread writes it)."""
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Write the final state and end the thread (blocking: call it off the event loop)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)


# --- the worker -------------------------------------------------------------------------------------


def start_metrics(settings: Settings, parts: WorkerParts) -> MetricsServer | None:
    """Serve this process's Prometheus metrics when ``ANIGATE_METRICS_PORT`` is set, and only then
    hook the per-INVITE counting into the listener and the redirect service. A port that cannot be
    bound is logged at ERROR and the worker goes on without metrics: calls come first."""
    if not settings.metrics_port:
        return None
    server = MetricsServer(parts, settings.metrics_host, settings.metrics_port)
    try:
        server.start()
    except OSError as exc:
        log.error("metrics not served on %s:%d: %s", settings.metrics_host, settings.metrics_port, exc)
        return None
    parts.server.core.on_answer = parts.calls.answered
    if parts.handler is not None:
        parts.handler.on_routed = parts.calls.routed
    return server


async def retry_held(handler: RedirectService, every: float = HELD_RETRY_INTERVAL) -> None:
    """Journal the calls held while the journal failed as soon as it takes writes again, without
    waiting for the next call (on the event loop: the journal writer is the SIP handler's)."""
    while True:
        await asyncio.sleep(every)
        if handler.held:
            handler.retry_held()


async def serve(settings: Settings) -> None:
    # signals first: a SIGTERM that arrives while starting must still mean "stop gracefully"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    supervisor = ChildSupervisor(RECORDER)
    relay = ChildSupervisor(RELAY) if settings.relay else None
    children = [supervisor] if relay is None else [supervisor, relay]
    first_signal: list[float] = []

    def overrun() -> None:
        log.error("the stop overran %.1f s: exiting now; unrecorded calls stay in the journal", STOP_DEADLINE)
        faulthandler.dump_traceback(all_threads=True)
        for child in children:
            child.kill()
        os._exit(1)

    def on_signal(sig: signal.Signals) -> None:
        now = time.monotonic()
        if not first_signal:
            first_signal.append(now)
            # a stop that hangs anyway (a thread stuck in a driver) is ended, with every stack printed
            watchdog = threading.Timer(STOP_DEADLINE, overrun)
            watchdog.daemon = True  # a normal exit does not wait for it
            watchdog.start()
            faulthandler.dump_traceback_later(STOP_DEADLINE + 1, exit=True)
            for child in children:
                child.stopping()
            stop.set()
        elif now - first_signal[0] >= REPEAT_GRACE:
            log.warning("%s again: exiting now; unrecorded calls stay in the journal", sig.name)
            for child in children:
                child.kill()
            os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    services = build_services(settings)
    holder = SnapshotHolder()
    # each new snapshot is kept on disk, so that a start while the database is away still answers
    refresher = KeepingRefresher(
        holder,
        services.session_factory,
        store_for(settings.instance_dir, secret_key(settings)),
        SnapshotOptions.from_settings(settings),
    )
    first = True
    while True:  # the registry must be readable once before calls can be answered
        try:
            refresher.refresh()
            break
        except Exception as exc:
            # life safety before the record: answer from the last snapshot kept on disk, if any
            if first and refresher.start_from_disk() is not None:
                break
            log.error(
                "cannot read the registry yet (%s)%s; retrying in 1 s",
                exc,
                " and there is no usable registry snapshot on disk" if first else "",
            )
            first = False
            if stop.is_set():
                services.close()
                return
            await asyncio.sleep(1)
    assert settings.journal_dir is not None
    journal = JournalWriter(settings.journal_dir)
    # the recorder drains the journal into the database in its own process (no GIL shared with SIP);
    # it reads the same environment, hence the same settings
    await supervisor.start()
    # the relay delivers the outbox to the sinks in a third process (MQTT, SNMP, webhooks, the VMS)
    if relay is not None:
        await relay.start()
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
    parts = WorkerParts(server, CallMetrics(), handler, recorder=supervisor, refresher=refresher, relay=relay)
    metrics = start_metrics(settings, parts)
    name = f"{socket.gethostname()}:{settings.sip_host}:{server.port}"
    reporter = StatusReporter(
        services.session_factory,
        name,
        supervisor,
        settings.journal_dir,
        server=server,
        handler=handler,
        refresher=refresher,
        relay=relay,
    )
    for child in children:
        child.on_change = reporter.poke
    reporter.start()
    retrying = asyncio.create_task(retry_held(handler), name="journal-held-retry")
    print(f"READY {settings.sip_host} {server.port}", flush=True)

    await stop.wait()
    log.info("stopping: %s", dict(server.stats.counts))
    retrying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await retrying
    t0 = time.monotonic()
    await server.stop()
    handler.retry_held()  # the last chance for calls held while the journal failed
    if handler.unjournaled:
        log.error(
            "%d calls were answered while the journal could not be written; %d still held, %d lost",
            handler.unjournaled,
            handler.held,
            handler.lost,
        )
    journal.close()  # the last call is journaled: the recorder's drain takes all
    _, code, relay_code, _ = await asyncio.gather(
        asyncio.to_thread(refresher.stop),
        supervisor.stop(),
        relay.stop() if relay is not None else asyncio.sleep(0),
        asyncio.to_thread(metrics.stop) if metrics is not None else asyncio.sleep(0),
    )
    await asyncio.to_thread(reporter.stop)
    services.close()
    log.info(
        "stopped in %.2f s (recorder %s, relay %s)",
        time.monotonic() - t0,
        "not running" if code is None else describe_exit(code),
        "not running" if relay_code is None else describe_exit(relay_code),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="anigate worker: SIP, call recorder, event relay")
    parser.add_argument("--recorder", metavar="FD", type=int, help="run as the call recorder process")
    parser.add_argument("--relay", metavar="FD", type=int, help="run as the event relay process")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.recorder is not None or args.relay is not None:
        if args.recorder is not None:
            code = run_recorder(settings, args.recorder)
        else:
            code = run_relay(settings, args.relay)
        # everything is committed: skip tearing the interpreter down (most of a second on a busy
        # machine, inside the 10 s a stop may take)
        logging.shutdown()
        os._exit(code)
    configure_logging(settings, "worker")
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
