"""The client side of the fork server: start a zygote (:mod:`.zygote`), ask it to fork
one child per job, learn each child's pid and exit status.

The zygote is a child of the dispatcher, the jobs are children of the zygote; so the
dispatcher cannot ``waitpid`` a job, and the zygote reports each one's exit status over
the socket instead. A :class:`ForkedProcess` answers ``pid``, ``poll()`` and ``wait()``
like a ``subprocess.Popen``, so the dispatch loop treats both starts alike.

Anything that keeps the zygote from serving (no fork on this platform, it refuses:
threads or CUDA after importing the task's modules, it dies) makes :meth:`spawn` return
None, said once in the log; the dispatcher then starts that job, and the following
ones, as fresh interpreters.

A fork request may carry the read end of the dispatcher's lifeline pipe (sent last,
after the log and the GPU leases), and the path of the job's lock: the child arms
itself with them (:func:`.lifeline.arm_job`) before the job runs.
"""
from __future__ import annotations

import logging
import os
import pickle
import select
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Deque, Dict, Mapping, Optional, Sequence

from .joblock import pid_exists
from .lifeline import zygote_env
from .zygote import MAX_MESSAGE

__all__ = ["ForkServer", "ForkedProcess", "fork_server_unavailable", "LOST_RETURNCODE"]

log = logging.getLogger(__name__)

#: Seconds the zygote may take to import the task's modules before we give up on it.
READY_TIMEOUT_S = 180.0
#: Exit code of a job whose zygote died before reporting it (its status is unknown).
LOST_RETURNCODE = 255


def fork_server_unavailable() -> str:
    """Why no fork server can run on this platform ("" when one can)."""
    if not hasattr(os, "fork"):
        return "os.fork is not available on this platform"
    if sys.platform == "darwin":
        return "fork is unsafe on macOS (system frameworks may not survive it)"
    if not hasattr(socket, "send_fds") or not hasattr(socket, "SOCK_SEQPACKET"):
        return "this Python cannot pass file descriptors over a Unix socket"
    return ""


class ForkServer:
    """One zygote: ``python <argv> <socket fd>``, which must call
    :func:`.zygote.serve` on that descriptor once it has imported what jobs need."""

    def __init__(self, argv: Sequence[str], log_path: Path,
                 env: Optional[Mapping[str, str]] = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.why_not = fork_server_unavailable()
        self.alive = False
        self._said = False
        self._proc: Optional[subprocess.Popen] = None
        self._sock: Optional[socket.socket] = None
        self._ready = False
        self._replies: Deque[tuple] = deque()
        self._exits: Dict[int, int] = {}

    # ----------------------------------------------------------------- lifetime
    def start(self) -> None:
        """Start the zygote without waiting for it: it imports while the launcher
        prepares the first job. The first :meth:`spawn` waits until it is ready."""
        if self.why_not or self._proc is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The zygote dies with us (a parent-death signal), and its jobs with it.
        env = {**(self.env if self.env is not None else os.environ), **zygote_env()}
        try:
            with open(self.log_path, "ab") as zlog:
                self._proc = subprocess.Popen(
                    [*self.argv, str(theirs.fileno())], stdin=subprocess.DEVNULL,
                    stdout=zlog, stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),),
                    env=env,
                    start_new_session=True,  # Ctrl-C reaches the launcher, which stops the jobs
                )
        except OSError as e:
            ours.close()
            self.why_not = f"the zygote could not be started: {e}"
            return
        finally:
            theirs.close()
        self._sock = ours
        self.alive = True

    def close(self) -> None:
        """Stop the zygote (after the jobs: it reports their exits)."""
        if self._sock is not None:
            try:
                self._sock.send(pickle.dumps(("quit",)))
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self.alive = False

    def fileno(self) -> int:
        """Readable when the zygote has something to say (a job ended)."""
        assert self._sock is not None
        return self._sock.fileno()

    # ----------------------------------------------------------------- jobs
    def spawn(self, job: Any, log_fd: int, env: Mapping[str, str], cwd: Optional[str] = None,
              pass_fds: Sequence[int] = (), lifeline_fd: Optional[int] = None,
              lock_path: Optional[str] = None) -> Optional["ForkedProcess"]:
        """Fork a child that runs ``job`` with stdout+stderr on ``log_fd``, ``env`` as
        its whole environment, and ``pass_fds`` open; None when the fork server cannot
        (the reason is logged once: the caller starts the job the plain way). With
        ``lifeline_fd`` (:class:`.lifeline.Lifeline`), the child dies when it reaches
        EOF, and beats the heartbeat of ``lock_path``."""
        if not self._usable():
            return None
        fds = [log_fd, *pass_fds] + ([lifeline_fd] if lifeline_fd is not None else [])
        opts = {"lifeline": lifeline_fd is not None, "lock": lock_path}
        request = pickle.dumps(("fork", job, dict(env), cwd, opts))
        try:
            socket.send_fds(self._sock, [request], fds)  # type: ignore[arg-type]
            reply = self._reply(READY_TIMEOUT_S)
        except OSError as e:
            reply = ("refused", f"the zygote's socket failed: {e}")
        if reply is None or reply[0] != "started":
            self._give_up(reply[1] if reply else "the zygote ended or stopped answering")
            return None
        return ForkedProcess(self, int(reply[1]))

    def poll(self, pid: int) -> Optional[int]:
        """The exit status of ``pid`` once (ForkedProcess keeps it), or None."""
        self._read(0.0)
        if pid in self._exits:
            return self._exits.pop(pid)
        if not self.alive and not pid_exists(pid):
            return LOST_RETURNCODE  # its zygote died first: nobody kept its status
        return None

    def has_exits(self) -> bool:
        """Whether exits were read (while waiting for a reply) that nobody has polled:
        the socket no longer says so, so a caller must not sleep on it."""
        return bool(self._exits)

    def wait(self, pid: int) -> int:
        while True:
            rc = self.poll(pid)
            if rc is not None:
                return rc
            self._read(0.05)

    # ----------------------------------------------------------------- internals
    def _usable(self) -> bool:
        if self._ready and not self.alive and not self.why_not:
            self.why_not = f"the zygote ended unexpectedly{self._log_tail()}"
        if self.why_not or self._sock is None:
            self._say(self.why_not or "the zygote was not started")
            return False
        if self._ready:
            return True
        reply = self._reply(READY_TIMEOUT_S)
        if reply is None or reply[0] != "ready":
            self._give_up(reply[1] if reply else "the zygote ended or stopped answering "
                          f"before it was ready{self._log_tail()}")
            return False
        self._ready = True
        return True

    def _reply(self, timeout: float) -> Optional[tuple]:
        """The next answer to a request (exit reports are kept aside), or None."""
        end = time.monotonic() + timeout
        while not self._replies and self.alive and time.monotonic() < end:
            self._read(max(0.0, end - time.monotonic()))
        return self._replies.popleft() if self._replies else None

    def _read(self, timeout: float) -> None:
        """Read what the zygote said within ``timeout`` seconds."""
        if self._sock is None or not self.alive:
            return
        poller = select.poll()  # not select.select: it fails for descriptors >= 1024
        poller.register(self._sock, select.POLLIN)
        ready = poller.poll(timeout * 1000)
        while ready:
            try:
                data = self._sock.recv(MAX_MESSAGE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.alive = False  # it died (or quit): no more reports will come
                return
            msg = pickle.loads(data)
            if msg[0] == "exit":
                self._exits[msg[1]] = os.waitstatus_to_exitcode(msg[2])
            else:
                self._replies.append(msg)

    def _give_up(self, why: str) -> None:
        self._say(why)
        self.why_not = why
        if self._ready and self.alive:
            return  # it still reports the exits of the jobs it forked
        self.alive = False
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def _say(self, why: str) -> None:
        if not self._said:
            self._said = True
            log.warning(f"Not forking jobs from a zygote: {why}; each job starts as a "
                        "fresh interpreter instead")

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; its output:\n{text[-2000:]}" if text else ""


class ForkedProcess:
    """A job forked by the zygote, with the part of ``subprocess.Popen`` the dispatch
    loop uses."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self.server.poll(self.pid)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = self.server.wait(self.pid)
        return self.returncode
