"""Processes and readiness of local Kafka nodes: start, find, stop, and ask for metadata."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from kafkaconf import HOST, KafkaLocalError

_LOG_TAIL_LINES = 40

# Brokers started by this process, so that their exit status is reaped (a killed
# child would otherwise linger as a zombie that still looks alive) and so that
# the Popen objects are not collected while the JVM runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(cmd: Sequence[str], log: Path, cwd: Path) -> int:
    """Start a long-running JVM with its output appended to `log`; returns its pid."""
    with log.open("ab") as out:
        # A session of its own: a terminal's Ctrl-C reaches the caller, which stops the
        # brokers in order, instead of killing them behind its back.
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of `text`, for error messages."""
    return "\n".join(text.splitlines()[-lines:])


def log_tail(path: Path) -> str:
    """The last lines of a node's log, for error messages."""
    try:
        return tail(path.read_text(errors="replace"))
    except FileNotFoundError:
        return "(no log)"


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    # Hold every socket until all are bound so that the ports are distinct.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_running(pid: int, marker: str) -> bool:
    """Whether `pid` is a live (non-zombie) process whose command line contains `marker`."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may hold spaces.
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    # A recycled pid belongs to someone else: never signal it.
    return marker in _cmdline(pid)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_gone(pids: dict[int, str], timeout_s: float) -> dict[int, str]:
    """Wait until the processes exit; return those still running after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    alive = {pid: marker for pid, marker in pids.items() if is_running(pid, marker)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {pid: marker for pid, marker in alive.items() if is_running(pid, marker)}
    return alive


def terminate(pids: dict[int, str], timeout_s: float) -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL whatever is left.

    `pids` maps each pid to a string its command line must contain (see `is_running`).
    """
    for pid, marker in pids.items():
        if is_running(pid, marker):
            _signal(pid, signal.SIGTERM)
    left = wait_gone(pids, timeout_s)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    if wait_gone(left, 10.0):
        raise KafkaLocalError(f"processes survived SIGKILL: {sorted(left)}")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks += chunk
    return bytes(chunks)


def metadata_broker_ids(host: str, port: int, timeout_s: float = 2.0) -> frozenset[int]:
    """Ids of the brokers that `host:port` reports as live (Metadata v1, no topics).

    Raises OSError while the broker does not answer.
    """
    client_id = b"kafkalocal"
    # Header v1 (api key 3 = Metadata, version 1, correlation id, client id), then an
    # empty topic array: in v1 that asks for brokers only.
    request = struct.pack(">hhih", 3, 1, 1, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        body = _recv_exact(sock, size)
    offset = 4  # correlation id
    (count,) = struct.unpack_from(">i", body, offset)
    offset += 4
    ids = set()
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", body, offset)
        offset += 6 + host_len + 4  # node id, host, port
        (rack_len,) = struct.unpack_from(">h", body, offset)
        offset += 2 + max(rack_len, 0)
        ids.add(node_id)
    return frozenset(ids)
