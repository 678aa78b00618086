"""Child-process supervision for the testbed: free ports, process groups, readiness.

A child is started as the leader of its own session and process group, so
stopping the group also ends whatever it spawned (Triton's ``tritonserver`` and
its Python backend stubs), and a signal to the test runner never reaches it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


class ChildError(RuntimeError):
    """A child process failed to start or become ready; the message has its log tail."""


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports the kernel reports free on ``host``.

    All sockets stay open until every port is picked, so the ports differ; another
    process may still take one before the caller binds it (a small, accepted race).
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def free_port(host: str = LOOPBACK) -> int:
    """One port the kernel reports free on ``host``."""
    return free_ports(1, host)[0]


def start_group(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new process group, stdout and stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def log_tail(log_path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a child's log (empty if there is none)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def port_clash(log_path: Path) -> bool:
    """True if the child's log says a port it was given was taken meanwhile (another
    process bound it between :func:`free_ports` and the child's own bind)."""
    tail = log_tail(log_path, 200).lower()
    return "address already in use" in tail or "address in use" in tail


def wait_http_ready(
    url: str,
    *,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    poll_s: float = 0.1,
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` exits.

    Raises :class:`ChildError` (with the log tail) on exit or after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_tail(log_path) if log_path else ""
            raise ChildError(
                f"{proc.args!r} exited with {proc.returncode} before {url} was ready\n{tail}"
            )
        try:
            with urllib.request.urlopen(url, timeout=max(poll_s, 1.0)) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(poll_s)
    tail = log_tail(log_path) if log_path else ""
    raise ChildError(f"{url} not ready after {timeout_s:g} s ({last})\n{tail}")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], *, term_timeout_s: float = 10.0) -> None:
    """Stop the child's whole process group: SIGTERM, wait, then SIGKILL what is left.

    Returns once the leader is reaped and no live member of the group remains
    (members orphaned by the leader are reaped by init).
    """
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + term_timeout_s
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not group_members(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    deadline = time.monotonic() + 5.0
    while group_members(pgid) and time.monotonic() < deadline:
        _signal_group(pgid, signal.SIGKILL)
        time.sleep(0.05)
    if proc.returncode is None or group_members(pgid):
        raise ChildError(f"process group {pgid} of {proc.args!r} survived SIGKILL")


class Managed(ABC):
    """A part of the testbed that is started and closed; usable as a context manager
    (``with Part(...) as part:``) so it is closed even when a test or run fails."""

    @abstractmethod
    def start(self) -> None:
        """Start the part and return once it is ready."""

    @abstractmethod
    def close(self) -> None:
        """Stop the part and release what it holds (ports, processes, temp files)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
