"""The zygote side of the fork server: a process that has imported everything a job
needs, and forks one fresh child per job.

Why: a fresh interpreter per job spends most of its time importing (Hydra, OmegaConf,
the task's libraries). The zygote imports once; each job is a ``fork()`` of it, so it
starts with those modules loaded but is still its own process: module state a job
changes is never seen by the next one, a job that crashes its interpreter kills only
itself, and its environment (``CUDA_VISIBLE_DEVICES``) is set before the task runs.

Forking is only safe from a process with one thread and no CUDA context:
:func:`fork_unsafe_reason` says why not, and the zygote then refuses (the client falls
back to the plain start). The protocol (one pickled tuple per ``SOCK_SEQPACKET``
message) is in :mod:`.forkserver`, the client side.

The zygote dies with the sweep (a ``SIGKILL`` parent-death signal), and each child
with the zygote and with the sweep's lifeline pipe (:mod:`.lifeline`): no job outlives
the sweep that started it.
"""
from __future__ import annotations

import atexit
import gc
import os
import pickle
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any, Callable, List, NoReturn, Optional, Sequence

from .lifeline import arm_job, zygote_dies_with_parent

__all__ = ["fork_unsafe_reason", "serve", "MAX_MESSAGE", "MAX_FDS"]

#: Largest message (a job's environment and its description) and most descriptors
#: (the log file and the GPU leases) one request carries.
MAX_MESSAGE = 1 << 20
MAX_FDS = 64


def fork_unsafe_reason() -> str:
    """Why this process must not be forked for a job ("" when it may be): another
    thread (a lock it holds would stay locked in the child forever) or a CUDA context
    (a forked child cannot use it, and would not get its own GPUs)."""
    if not hasattr(os, "fork"):
        return "os.fork is not available on this platform"
    n = threading.active_count()
    if n > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        return f"{n - 1} thread(s) run after importing the task's modules ({names})"
    torch = sys.modules.get("torch")  # never imported just to check
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is not None and cuda.is_initialized():
            return "CUDA is initialised (torch.cuda.is_initialized()) after importing the task's modules"
    except Exception:  # noqa: BLE001 - a broken torch is not our question
        pass
    return ""


def _send(sock: socket.socket, *msg: Any) -> None:
    sock.sendall(pickle.dumps(msg))


def serve(sock: socket.socket, run: Callable[[Any], int],
          check: Callable[[], str] = fork_unsafe_reason) -> None:
    """Serve fork requests on ``sock`` until it closes; ``run(job)`` runs one job in
    its child and returns the exit code. Says ``("ready",)`` or ``("unsafe", why)``
    first; then ``("started", pid)`` or ``("refused", why)`` per request, and
    ``("exit", pid, wait_status)`` as each child ends."""
    zygote_dies_with_parent()  # before the check: an unsafe zygote must not linger either
    why = check()
    if why:
        _send(sock, "unsafe", why)
        return
    gc.freeze()  # the imported modules' objects stay shared with the children
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wake the loop through wake_w
    signal.set_wakeup_fd(wake_w)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    _send(sock, "ready")
    try:
        while _serve_once(sock, sel, wake_r, wake_w, run, check):
            pass
    finally:
        signal.set_wakeup_fd(-1)
        sel.close()
        _reap(sock)


def _serve_once(sock: socket.socket, sel: selectors.BaseSelector, wake_r: int, wake_w: int,
                run: Callable[[Any], int], check: Callable[[], str]) -> bool:
    """Handle what is ready; False when the client has gone or said quit."""
    for key, _ in sel.select():
        if key.fileobj == wake_r:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            continue
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
        if not data:
            return False
        msg = pickle.loads(data)
        if msg[0] == "quit":
            _close_all(fds)
            return False
        opts = msg[4] if len(msg) > 4 else {}
        _fork(sock, wake_r, wake_w, fds, msg[1], msg[2], msg[3], opts, run, check)
    _reap(sock)
    return True


def _reap(sock: socket.socket) -> None:
    """Report every child that has ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            _send(sock, "exit", pid, status)
        except OSError:
            pass  # the client is gone: nobody to tell


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _fork(sock: socket.socket, wake_r: int, wake_w: int, fds: List[int], job: Any,
          env: dict, cwd: Optional[str], opts: dict, run: Callable[[Any], int],
          check: Callable[[], str]) -> None:
    why = check()  # nothing should have changed since "ready"; checking costs microseconds
    if why or not fds:
        _close_all(fds)
        _send(sock, "refused", why or "no log file descriptor was sent")
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write the zygote's buffered text again
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(sock, wake_r, wake_w, fds, job, env, cwd, run, zygote, opts)
    _close_all(fds)  # the child holds the log and the GPU leases now
    _send(sock, "started", pid)


def _child(sock: socket.socket, wake_r: int, wake_w: int, fds: List[int], job: Any,
           env: dict, cwd: Optional[str], run: Callable[[Any], int], zygote: int,
           opts: dict) -> NoReturn:
    """In the forked child: become a job process as the plain start makes one (own
    session, stdin /dev/null, stdout+stderr to the log, the job's environment, dying
    with the zygote and with the sweep's lifeline), run the job, run exit handlers as
    an interpreter would, and exit with the job's code."""
    code = 1
    try:
        os.setsid()  # own process group: a timeout kills the job's children too
        arm_job(fds[-1] if opts.get("lifeline") else None, zygote, opts.get("lock"))
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        os.close(wake_r)
        os.close(wake_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        _close_all([devnull, fds[0]])
        for fd in fds[1:]:
            os.set_inheritable(fd, True)  # as Popen's pass_fds leaves them
        _set_environ(env)
        if cwd:
            os.chdir(cwd)
        _reseed()
        code = run(job)
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:  # noqa: BLE001 - reported in the job's log, like an interpreter would
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # e.g. logging.shutdown flushes the job's log handlers
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _set_environ(env: dict) -> None:
    """Make ``os.environ`` exactly ``env``, changing only what differs (most of it is
    the zygote's own environment already)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


def _reseed() -> None:
    """Fresh global random states, as a fresh interpreter has (``random`` reseeds
    itself after fork; numpy's and torch's CPU generators would be the zygote's). Only
    generators the zygote has: numpy imports ``numpy.random`` on first use, and a job
    that uses it later seeds it from the OS itself (importing it here would cost every
    job ~25 ms)."""
    np_random = sys.modules.get("numpy.random")
    torch = sys.modules.get("torch")
    try:
        if np_random is not None:
            np_random.seed()
        if torch is not None:
            torch.random.default_generator.seed()
    except Exception:  # noqa: BLE001 - a partial import is not our question
        pass
