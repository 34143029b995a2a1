"""One job's config, composed once in the launcher, and everything the job's process
needs besides it. Shared by ``hydra/launcher=alchemy`` and ``alchemy_slurm``.

Compose once: the launcher composes each job (it needs the job's directory anyway) and
the job's process receives that config and runs the task with it; it never composes
again, so a Python config file runs in the sweep's process only. Entries of Python
config files that are not plain values live in a process-local registry
(:mod:`alchemy_resolvers.registry`) and the config refers to them by token
(``${alchemy_obj:TOKEN}``, ``${alchemy_pydep:TOKEN,N}``, ...): the entries a job's
config refers to travel with it, pickled one by one so that one that cannot be pickled
fails that job with a message naming its file and key (never a silent recompose).
"""
from __future__ import annotations

import copy
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from alchemy_resolvers import registry
from alchemy_resolvers.dispatch.payload import PayloadError, dumps, loads

#: A reference to a registry entry inside an (unresolved) config value.
TOKEN_RE = re.compile(r"\$\{\s*alchemy_(?:obj|pydep|pdep|param|value)\s*:\s*'?([A-Za-z0-9]+)")

Packed = Dict[str, Tuple[bytes, str, str]]  # token -> (pickle, file, key)


def compose_job(hydra_context: Any, config: Any, overrides: List[str], idx: int,
                job_id: Optional[str] = None) -> Tuple[Any, Path, str]:
    """``(sweep_config, absolute job dir, output dir)`` of job ``idx``, as Hydra's basic
    launcher composes it (``job.id`` defaults to ``<job name>_<idx>``). The output dir
    is the job's directory as Hydra's ``run_job`` spells it (``hydra.sweep.dir`` joined
    with ``hydra.sweep.subdir``, maybe relative): the job's process is handed it rather
    than resolving both again."""
    from omegaconf import open_dict

    from ._savedconfigs import resolve_output_dir

    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = job_id or f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    output_dir = resolve_output_dir(sweep_config, "hydra.sweep.dir", "hydra.sweep.subdir")
    return sweep_config, Path(os.path.abspath(output_dir)), output_dir


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def referenced_tokens(cfg: Any) -> Set[str]:
    """Registry tokens the config's values refer to (unresolved)."""
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=False)
    return {m.group(1) for s in _strings(plain) if "alchemy_" in s for m in TOKEN_RE.finditer(s)}


class ObjectPacker:
    """Pickles the registry entries job configs refer to, each once per sweep."""

    def __init__(self) -> None:
        self._done: Dict[str, Tuple[bytes, str, str]] = {}
        self._failed: Dict[str, PayloadError] = {}

    def pack(self, cfg: Any) -> Packed:
        """The entries ``cfg`` refers to; raises :class:`PayloadError` naming the file
        and key of one that cannot be pickled."""
        out: Packed = {}
        if not registry.snapshot():
            return out  # no Python config file loaded in this process: nothing to look for
        for token, (obj, file, key) in sorted(registry.snapshot(referenced_tokens(cfg)).items()):
            if token in self._failed:
                raise self._failed[token]
            if token not in self._done:
                try:
                    self._done[token] = (dumps(obj), file, key)
                except Exception as e:  # noqa: BLE001 - any pickling failure
                    err = PayloadError(
                        f"{file}: entry `{key}` ({type(obj).__name__}) cannot be sent to the "
                        f"job's process: {type(e).__name__}: {e}",
                        file=file, key=key,
                        hint="make the value picklable (a module-level class or function, "
                             "no open files, locks or sockets), or build it inside the task",
                    )
                    self._failed[token] = err
                    raise err from e
            out[token] = self._done[token]
        return out


def unpack(packed: Packed) -> None:
    """Put packed entries in this process's registry (call after restoring Hydra's
    singletons and ``alchemy_resolvers.register()``)."""
    registry.restore({t: (loads(data), file, key) for t, (data, file, key) in packed.items()})


def attach_job_config(ret: Any, sweep_config: Any, job_dir: Path) -> None:
    """Give the JobReturn of a job that died before Hydra's ``run_job`` returned the
    config and directory ``run_job`` would have set, so a sweeper can still report
    which job it was and where its log is."""
    from omegaconf import OmegaConf, open_dict, read_write

    hydra_cfg = copy.deepcopy(sweep_config)
    with read_write(hydra_cfg.hydra.runtime), open_dict(hydra_cfg.hydra.runtime):
        hydra_cfg.hydra.runtime.output_dir = str(job_dir)
    task_cfg = copy.deepcopy(sweep_config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    ret.cfg = task_cfg
    ret.hydra_cfg = OmegaConf.create({"hydra": hydra_cfg.hydra})
    ret.task_name = str(sweep_config.hydra.job.name)
    ret.working_dir = str(job_dir) if sweep_config.hydra.job.chdir else os.getcwd()


def restore_state(singleton_state: Any) -> None:
    """Hydra's state as the launcher had it (config store, plugins, resolvers). Costs
    ~50 ms (Hydra scans its plugins again): the zygote does it once for all jobs."""
    import alchemy_resolvers
    from hydra.core.singleton import Singleton
    from hydra.core.utils import setup_globals

    setup_globals()
    Singleton.set_state(singleton_state)
    alchemy_resolvers.register()  # set_state reset OmegaConf's resolvers


def run_composed(hydra_context: Any, task_function: Any, sweep_config: Any,
                 packed: Packed, singleton_state: Any, restore: bool = True,
                 output_dir: Optional[str] = None, saved_configs: Any = None,
                 hydra_config: Any = None) -> Any:
    """In the job's process: restore Hydra's state (unless ``restore`` is false: a
    process forked after :func:`restore_state`) and the config's objects, then run the
    task with the config the launcher composed (``run_job`` sets it as Hydra's config;
    ``output_dir``: the job's directory as :func:`compose_job` resolved it, or None to
    resolve it here; ``saved_configs``: the files of ``.hydra/`` rendered by the
    launcher, and ``hydra_config``: HydraConfig's copy pickled by it, :mod:`._savedconfigs`).
    Returns Hydra's ``JobReturn``."""
    from ._runjob import run_job

    if restore:
        restore_state(singleton_state)
    unpack(packed)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
        output_dir=output_dir,
        saved_configs=saved_configs,
        hydra_config=hydra_config,
    )


def portable_exception(e: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError naming it."""
    try:
        loads(dumps(e))
        return e
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(e).__module__}.{type(e).__qualname__}: {e}")


def report_failure(ret: Any, label: str) -> Any:
    """Print the task's traceback (it names the user's files) to stderr, make the
    exception picklable, and return where in the user's files it was raised."""
    from alchemy_resolvers.dispatch.payload import task_location

    e = ret._return_value
    sys.stderr.write(f"[hydra-alchemy] {label} raised:\n")
    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    location = task_location(e)
    ret.return_value = portable_exception(e)
    return location
