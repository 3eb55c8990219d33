"""Tiny loopback SIP client for e2e tests: build a message, send it, read the answer."""

from __future__ import annotations

import socket
import uuid


def invite(
    port: int,
    *,
    method: str = "INVITE",
    ani_headers: tuple[str, ...] = ("P-Asserted-Identity: <tel:+493012345678>",),
    from_user: str = "+493012345678",
    call_id: str | None = None,
    branch: str | None = None,
    cseq: str | None = None,
    extra: tuple[str, ...] = (),
    version: str = "SIP/2.0",
    uri: str | None = None,
    via: str | None = "default",
    src_port: int = 5062,
    body: bytes = b"",
) -> bytes:
    call_id = call_id or f"{uuid.uuid4().hex}@127.0.0.1"
    branch = branch or "z9hG4bK" + uuid.uuid4().hex[:16]
    lines = [f"{method} {uri or f'sip:112@127.0.0.1:{port}'} {version}"]
    if via == "default":
        lines.append(f"Via: SIP/2.0/UDP 127.0.0.1:{src_port};branch={branch};rport")
    elif via:
        lines.append(via)
    lines += [
        f'From: "Lift 1" <sip:{from_user}@127.0.0.1>;tag=1928301774',
        f"To: <sip:112@127.0.0.1:{port}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq or f'1 {method}'}",
        "Max-Forwards: 70",
        *ani_headers,
        *extra,
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body


def udp_exchange(
    port: int, data: bytes, *, timeout: float = 1.0, src: str = "127.0.0.1", expect_reply: bool = True
) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(timeout if expect_reply else min(timeout, 0.5))
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def tcp_exchange(port: int, data: bytes, *, timeout: float = 2.0, replies: int = 1) -> list[bytes]:
    out: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while len(out) < replies:
            try:
                chunk = s.recv(65535)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                out.append(head + b"\r\n\r\n")
                buf = rest
    return out


def status_line(resp: bytes | None) -> str | None:
    return None if resp is None else resp.split(b"\r\n", 1)[0].decode()


def header(resp: bytes, name: str) -> str | None:
    for line in resp.decode().split("\r\n")[1:]:
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None
