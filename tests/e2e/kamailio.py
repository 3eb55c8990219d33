"""A real Kamailio (Debian ``kamailio``) in front of anigate workers for e2e tests: its dispatcher
module spreads INVITEs round-robin over the workers and fails over to the next one on a timeout or a
5xx. A second role, ``start_pbx``: the customer's proxy that sends emergency calls to anigate and
follows its 302 itself, serially in q order, with the recipe of docs/deploy/pbx.md
(docs/deploy/kamailio-follow-302.cfg, included as it is). Everything they write (config,
destination list, pid file, log) stays in the test's tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sipp import free_port
from tests.e2e.siptools import invite, status_line, udp_exchange

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
FOLLOW_302 = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "kamailio-follow-302.cfg"

GLOBALS = """debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
listen=udp:127.0.0.1:{port}
disable_tcp=yes
enable_sctp=no
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
run_dir="{runtime}"
mpath="{modules}"
"""

CONFIG = """#!KAMAILIO
# Written by tests/e2e/kamailio.py: a stateful dispatcher in front of anigate workers (setid 1).
{globals}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"
loadmodule "dispatcher.so"

# A worker that says nothing for {fr_ms} ms is given up: the failure route tries the next one.
modparam("tm", "fr_timer", {fr_ms})
modparam("tm", "fr_inv_timer", {fr_inv_ms})
modparam("dispatcher", "list_file", "{dispatcher_list}")
# flag 2: failover support (the rest of the destination set is kept for ds_next_dst)
modparam("dispatcher", "flags", 2)
# OPTIONS probes every second: a dead worker is marked inactive, a revived one active again.
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@127.0.0.1:{port}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("OPTIONS") && uri==myself && !has_totag()) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    # retransmissions and the ACK of a 302 belong to a transaction tm already has
    if (t_check_trans()) {{
        t_relay();
        exit;
    }}
    if (has_totag()) {{
        exit;  # a redirect server makes no dialogs: an ACK without a transaction is dropped
    }}
    if (!is_method("INVITE")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if (!ds_select_dst("1", "4")) {{
        sl_send_reply("503", "No Worker");
        exit;
    }}
    xlog("L_INFO", "dispatch $ci to $du\\n");
    t_on_failure("FAILOVER");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

failure_route[FAILOVER] {{
    if (t_is_canceled()) {{
        exit;
    }}
    # a 302 is a final answer to pass on as is; only silence, 408 and 5xx move to the next worker
    if (t_check_status("408|5[0-9][0-9]") || (t_branch_timeout() && !t_branch_replied())) {{
        xlog("L_WARN", "failover of $ci from $du\\n");
        ds_mark_dst("ip");
        if (ds_next_dst()) {{
            t_on_failure("FAILOVER");
            t_relay();
            exit;
        }}
    }}
}}
"""


PBX_CONFIG = """#!KAMAILIO
# Written by tests/e2e/kamailio.py: the customer's proxy. Emergency calls go to anigate ({anigate});
# the 302 that comes back is followed here, one center after the other (docs/deploy/pbx.md).
{globals}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"

# anigate itself says nothing for this long: the call fails (no Contact to try yet)
modparam("tm", "fr_timer", 3000)

include_file "{follow_302}"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("OPTIONS") && uri==myself && !has_totag()) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (t_check_trans()) {{
        t_relay();
        exit;
    }}
    if (has_totag()) {{
        # the caller's ACK of a center's 200 goes to the center's Contact (no Record-Route here)
        if (uri != myself) {{
            forward();
        }}
        exit;
    }}
    if (!is_method("INVITE")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    $du = "{anigate}";
    t_on_failure("ANIGATE");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""


@dataclass
class Kamailio:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def failovers(self) -> int:
        return self.log().count("failover of ")

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()  # kamailio ends its children on SIGTERM
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_kamailio(tmp: Path, worker_ports: list[int], *, fr_ms: int = 800, timeout: float = 30) -> Kamailio:
    """Write a config and a destination list for ``worker_ports`` into ``tmp`` and start Kamailio in
    the foreground on a free loopback port; returns once it answers an OPTIONS probe."""
    tmp.mkdir(parents=True, exist_ok=True)
    listing = tmp / "dispatcher.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{p} 0 0\n" for p in worker_ports))
    config = CONFIG.replace("{globals}", GLOBALS, 1)
    return _start(tmp, config, [], timeout, fr_ms=fr_ms, fr_inv_ms=max(fr_ms, 2000), dispatcher_list=listing)


def start_pbx(
    tmp: Path, anigate_port: int, *, ring_ms: int = 2000, silent_ms: int = 1500, timeout: float = 30
) -> Kamailio:
    """Start a Kamailio that sends every INVITE to 127.0.0.1:``anigate_port`` (a worker, or the
    dispatcher) and follows the 302 with docs/deploy/kamailio-follow-302.cfg: each center gets
    ``ring_ms`` to answer after its 180 and ``silent_ms`` to send anything at all."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = PBX_CONFIG.replace("{globals}", GLOBALS, 1)
    defines = ["-A", f"ANIGATE_RING_MS={ring_ms}", "-A", f"ANIGATE_SILENT_MS={silent_ms}"]
    return _start(
        tmp, config, defines, timeout, anigate=f"sip:127.0.0.1:{anigate_port}", follow_302=FOLLOW_302
    )


def _start(tmp: Path, config: str, defines: list[str], timeout: float, **values: object) -> Kamailio:
    """Check ``config`` (str.format-ed with a free port, the paths and ``values``) with ``kamailio
    -c``, start it in the foreground, and return once it answers an OPTIONS probe."""
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    assert Path(binary).exists() and (MODULES / "dispatcher.so").exists(), (
        "kamailio is missing: scripts/ensure-tools.sh installs it (Debian kamailio)"
    )
    runtime = tmp / "run"
    runtime.mkdir(exist_ok=True)
    port = free_port()
    cfg = tmp / "kamailio.cfg"
    cfg.write_text(config.format(port=port, runtime=runtime, modules=MODULES, **values))
    log_path = tmp / "kamailio.log"
    check = subprocess.run(
        [binary, "-c", "-f", str(cfg), *defines], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [
                binary,
                "-DD",
                "-E",
                "-f",
                str(cfg),
                *defines,
                "-P",
                str(runtime / "kamailio.pid"),
                "-m",
                "64",
                "-M",
                "8",
            ],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    kam = Kamailio(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited {proc.returncode}: {kam.log()[-3000:]}")
        if _answers_options(port):
            return kam
        time.sleep(0.2)
    kam.stop()
    raise RuntimeError(f"kamailio did not answer: {kam.log()[-3000:]}")


def _answers_options(port: int) -> bool:
    probe = invite(port, method="OPTIONS", ani_headers=())
    return (status_line(udp_exchange(port, probe, timeout=0.5)) or "").startswith("SIP/2.0 200")
