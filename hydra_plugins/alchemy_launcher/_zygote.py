"""The fork server's zygote for ``hydra/launcher=alchemy`` (``start_method=fork_server``):
``python -m hydra_plugins.alchemy_launcher._zygote CTX SOCKET_FD``.

It does what every job's process would do before its task runs, once: import Hydra,
OmegaConf, our library and plugins, load the sweep's shared payload (the task function
and Hydra's state), and import the modules the task's module imported (the heavy part:
pandas, torch, ...), without running the task or the user's script. Then it serves fork
requests (:func:`alchemy_resolvers.dispatch.zygote.serve`); each child runs one job
exactly as a fresh ``_worker`` process would (:func:`._worker.run_job_file`).

It refuses to serve (and the launcher starts jobs as fresh interpreters) when an import
started a thread or initialised CUDA.
"""
from __future__ import annotations

import contextlib
import importlib
import socket
import sys
from pathlib import Path
from typing import Iterable, List

import hydra.core.utils  # noqa: F401 - what run_job needs, imported once for every job
import omegaconf  # noqa: F401

from alchemy_resolvers.dispatch.lifeline import zygote_dies_with_parent
from alchemy_resolvers.dispatch.zygote import serve
from hydra_plugins.alchemy_launcher._jobconfig import restore_state
from hydra_plugins.alchemy_launcher import _runjob  # noqa: F401 - imported once, not by every job
from hydra_plugins.alchemy_launcher._worker import load_context, prepare_process, run_job_file


#: Modules Hydra's ``run_job`` imports on first use: OmegaConf's ``select`` and the
#: logging set-up (hydra-core >= 1.3.3 has its own ``hydra._internal.logging_config``).
RUN_JOB_IMPORTS = ("logging.config", "omegaconf._impl", "hydra._internal.logging_config")


def import_run_job_modules() -> None:
    """Import what ``run_job`` would import in every forked job (~1 ms of a no-op job's
    time, most of it copy-on-write faults); a module this Hydra lacks is skipped."""
    for name in RUN_JOB_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def preload(names: Iterable[str]) -> List[str]:
    """Import the task module's modules; the ones that failed (a job imports what it
    needs itself, and reports its own errors)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - not ours to judge here
            failed.append(f"{name} ({type(e).__name__}: {e})")
    return failed


def warm_up_parser(strings: Iterable[str]) -> None:
    """Parse the sweep config's interpolations once (parse only: nothing is resolved,
    no resolver runs). ANTLR builds its lexer and parser DFAs on the first parse of each
    kind of input and keeps them for the process: children forked after this inherit
    them instead of rebuilding them, ~20% of a no-op job's time in Hydra's run_job."""
    from omegaconf.grammar_parser import parse

    for text in strings:
        for rule in ("configValue", "singleElement"):
            try:
                parse(text, parser_rule=rule)
            except Exception:  # noqa: BLE001 - a job reports its own parse errors
                pass


def import_numpy_random() -> None:
    """``numpy.random`` where the task's modules imported numpy. numpy imports it on
    first use, and nearly every numpy task uses it: each forked job would import it
    (~10-25 ms); imported here, each forked job reseeds it from the OS instead
    (:mod:`alchemy_resolvers.dispatch.zygote` does), for ~0.1 ms."""
    if "numpy" in sys.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module("numpy.random")


def prepare(ctx: dict) -> None:
    """What the zygote does once for every job it will fork, with the sweep's shared
    payload loaded (which imported the task function's module and the callbacks')."""
    failed = preload(ctx.get("preload", ()))
    if failed:
        print(f"[hydra-alchemy zygote] not preloaded: {'; '.join(failed)}", file=sys.stderr)
    import_run_job_modules()
    import_numpy_random()
    restore_state(ctx["singleton_state"])
    warm_up_parser(ctx.get("interpolations", ()))


def main(argv: List[str]) -> int:
    zygote_dies_with_parent()  # now, not after the imports: they may take a while
    ctx_path, sock = Path(argv[1]), socket.socket(fileno=int(argv[2]))
    prepare_process(ctx_path)
    ctx = load_context(ctx_path)
    prepare(ctx)
    serve(sock, lambda job: run_job_file(ctx, Path(job), restored=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
