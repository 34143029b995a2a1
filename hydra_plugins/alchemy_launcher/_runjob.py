"""Hydra's ``run_job`` for a process that runs one job and then exits.

A job forked from the zygote pays for everything it touches twice: the work, and the
copy-on-write faults of the zygote's memory pages it writes to. Hydra's
``hydra.core.utils.run_job`` (the same in every hydra-core 1.3.x) copies the hydra
node four times: ``HydraConfig.set_config`` copies it and is called twice (the first
time only so that the job's directory can be resolved), ``copy.deepcopy(config)``
copies it along with the task's config only for it to be deleted, and the JobReturn
gets its own copy. :func:`run_job` is that function step by step, without the two
copies nothing can observe:

- the job's directory comes from the launcher, which resolved it when it composed the
  job (:func:`._jobconfig.compose_job`); without it, it is resolved as Hydra does,
  with ``HydraConfig`` pointing at the job's own hydra node (the values the first
  ``set_config`` exposes, without copying them);
- the task's config is deep-copied with a stand-in for the hydra node, which is then
  deleted exactly as Hydra deletes it;
- the three files of ``.hydra/`` may come rendered by the launcher, which has
  PyYAML warm, and ``HydraConfig``'s copy of the hydra node pickled by it, to be
  unpickled for ``HydraConfig`` and again for the JobReturn (:mod:`._savedconfigs`).

The launcher sets a job up with the garbage collector off, and it is on again (what
the set-up made frozen out of its way) before the callbacks and the task run.

Everything else (the order of the steps, the files in ``.hydra/``, the logging set-up,
the callbacks, ``env_set``, ``chdir``, the ``JobReturn``) is Hydra's own code or the
same calls in the same order. ``tests/test_runjob.py`` runs both on the same configs
and compares the files, the returns and what the task and the callbacks see.
"""
from __future__ import annotations

import copy
import gc
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Optional

from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn, JobRuntime, JobStatus, _check_hydra_context, _flush_loggers, _save_config,
    configure_log, env_override)
from hydra.core.utils import run_job as hydra_run_job
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ._savedconfigs import (PickledHydraConfig, SavedConfigs, hydra_node_aside, resolve_output_dir,
                           set_output_dir)

__all__ = ["run_job"]


def _write_saved(files: Dict[str, str], output_dir: Path) -> None:
    """Hydra's ``_save_config`` for text rendered already."""
    for name, text in files.items():
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(str(output_dir / name), "w", encoding="utf-8") as file:
            file.write(text)


def _copy_without_hydra(config: DictConfig) -> DictConfig:
    """``copy.deepcopy(config)`` minus its hydra node, as Hydra makes it, without
    copying that node (it is deleted from the copy as Hydra deletes the real one)."""
    with hydra_node_aside(config):
        task_cfg = copy.deepcopy(config)
    with read_write(task_cfg):
        with open_dict(task_cfg):
            del task_cfg["hydra"]
    return task_cfg


def _collector_on() -> None:
    """The garbage collector on for the callbacks and the task. ``_worker`` sets a job
    up with it off (the thousands of objects of the set-up would trigger collections
    costing ~2 ms a job in a forked process); what the set-up made stays alive for the
    job, so it is frozen out of the collector's way rather than traced at once."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_job(task_function: Any, config: DictConfig, job_dir_key: str,
            job_subdir_key: Optional[str], hydra_context: Any,
            configure_logging: bool = True, output_dir: Optional[str] = None,
            saved_configs: Optional[SavedConfigs] = None,
            hydra_config: Optional[PickledHydraConfig] = None) -> JobReturn:
    """``hydra.core.utils.run_job`` with the same arguments and result, in a process
    that runs no other job. ``output_dir``: the job's directory, already resolved;
    ``saved_configs``: those files as the launcher rendered them for this config;
    ``hydra_config``: what ``HydraConfig.set_config`` makes of it, pickled by the
    launcher. Both are ignored when made for another directory."""
    if config.hydra.job.chdir is None and not version.base_at_least("1.2"):
        # Hydra warns and changes directory here: its own code says so.
        _collector_on()
        return hydra_run_job(task_function, config, job_dir_key, job_subdir_key,
                             hydra_context, configure_logging)
    _check_hydra_context(hydra_context)
    callbacks = hydra_context.callbacks

    old_cwd = os.getcwd()
    hc = HydraConfig.instance()
    orig_hydra_cfg = hc.cfg

    OmegaConf.set_readonly(config.hydra, True)  # what Hydra's first set_config does
    if output_dir is None:
        output_dir = resolve_output_dir(config, job_dir_key, job_subdir_key)

    abs_dir = set_output_dir(config, output_dir)
    if saved_configs is not None and saved_configs[0] != abs_dir:
        saved_configs = None  # rendered for another directory (a different cwd): render here
    pickled = hydra_config[1] if hydra_config is not None and hydra_config[0] == abs_dir else None

    if pickled is None:
        hc.set_config(config)
    else:  # what set_config makes: the copy, its hydra node's parent the job's config
        hc.cfg = pickle.loads(pickled)
        hc.cfg.hydra._set_parent(config)  # type: ignore[union-attr]
    _chdir = None
    try:
        ret = JobReturn()
        task_cfg = _copy_without_hydra(config)
        ret.cfg = task_cfg
        hydra_cfg = copy.deepcopy(hc.cfg) if pickled is None else pickle.loads(pickled)
        assert isinstance(hydra_cfg, DictConfig)
        ret.hydra_cfg = hydra_cfg
        overrides = OmegaConf.to_container(config.hydra.overrides.task)
        assert isinstance(overrides, list)
        ret.overrides = overrides
        Path(str(output_dir)).mkdir(parents=True, exist_ok=True)

        _chdir = bool(hydra_cfg.hydra.job.chdir)  # None is False from version_base 1.2
        if _chdir:
            os.chdir(output_dir)
            ret.working_dir = output_dir
        else:
            ret.working_dir = os.getcwd()

        if configure_logging:
            configure_log(config.hydra.job_logging, config.hydra.verbose)

        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            if saved_configs is not None:
                _write_saved(saved_configs[1], hydra_output)
            else:
                _save_config(task_cfg, "config.yaml", hydra_output)
                _save_config(hydra_cfg, "hydra.yaml", hydra_output)
                _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)

        with env_override(hydra_cfg.hydra.job.env_set):
            _collector_on()
            callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED

        ret.task_name = JobRuntime.instance().get("name")

        _flush_loggers()

        callbacks.on_job_end(config=config, job_return=ret)

        return ret
    finally:
        hc.cfg = orig_hydra_cfg
        if _chdir:
            os.chdir(old_cwd)
