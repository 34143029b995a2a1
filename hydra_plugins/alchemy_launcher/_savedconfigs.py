"""What Hydra's ``run_job`` makes of a job's config before the task runs, made by the
launcher instead of by the job: the three files it writes to ``<job dir>/.hydra``, and
``HydraConfig``'s copy of the hydra node.

PyYAML's emitter is pure Python. A job forked from the zygote runs it cold (each code
and data page it touches is copied on write first) at ~3x what the launcher pays with
it warm, and ``hydra.yaml`` is the largest thing a no-op job does. The launcher renders
the files once it has composed the job (ahead, while other jobs run) and the job writes
the text where and when ``run_job`` would have written it (:mod:`._runjob`).

The text is what ``OmegaConf.to_yaml`` makes of the same config: the same
``to_container`` and ``yaml.dump`` calls. ``hydra.yaml`` is rendered entry by entry of
the hydra node: an entry equal to one already rendered in this sweep (most of them:
help texts, logging, launcher and sweeper settings) reuses its text. That concatenation
is exactly the whole dump because PyYAML writes each entry of a block mapping from the
start of its own line, at a fixed indent, with no state from the entry before; it is
only used where that holds (plain values, no shared sub-containers, so no YAML anchors),
and ``tests/test_runjob.py`` checks it against ``OmegaConf.to_yaml``.

``HydraConfig.set_config`` deep-copies the hydra node and ``run_job`` deep-copies that
copy again for the JobReturn: OmegaConf copies node by node in Python, ~3 ms each in a
forked job. The launcher pickles what ``set_config`` makes once
(:func:`pickled_hydra_config`); the job unpickles it twice, once for each copy, at
~0.6 ms each.
"""
from __future__ import annotations

import contextlib
import os
import pickle
from typing import Any, Dict, Iterator, Optional, Tuple

import yaml
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper

__all__ = ["SavedConfigs", "PickledHydraConfig", "SavedConfigRenderer", "pickled_hydra_config",
           "set_output_dir", "resolve_output_dir", "hydra_node_aside"]

#: ``(the job's absolute output dir they were rendered for, {file name: text})``
SavedConfigs = Tuple[str, Dict[str, str]]
#: ``(the job's absolute output dir it was made for, the pickle of HydraConfig's config)``
PickledHydraConfig = Tuple[str, bytes]

_PLAIN = (dict, list, str, int, float, bool, type(None))
_HEAD = "hydra:\n"


def to_yaml(container: Any) -> str:
    """``OmegaConf.to_yaml`` (omegaconf 2.1-2.4) after its ``to_container`` step."""
    return yaml.dump(container, default_flow_style=False, allow_unicode=True,
                     sort_keys=False, Dumper=get_omega_conf_dumper())


def set_output_dir(config: DictConfig, output_dir: str) -> str:
    """Set ``hydra.runtime.output_dir`` as ``run_job`` does; the absolute path."""
    abs_dir = os.path.abspath(output_dir)
    with read_write(config.hydra.runtime):
        with open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = abs_dir
    return abs_dir


@contextlib.contextmanager
def hydra_node_aside(config: DictConfig) -> Iterator[None]:
    """While inside, an empty stand-in holds the place (same key, same position) of the
    config's hydra node: copying or converting the config then costs nothing for that
    node, and the result has a ``hydra`` key to delete as Hydra deletes it."""
    content = config.__dict__["_content"]
    hydra_node = content["hydra"]
    content["hydra"] = DictConfig({})
    try:
        yield
    finally:
        content["hydra"] = hydra_node


def resolve_output_dir(config: DictConfig, job_dir_key: str, job_subdir_key: Optional[str]) -> str:
    """The job's directory as ``run_job`` resolves it after its first ``set_config``:
    ``${hydra:...}`` reads the job's own hydra node (``HydraConfig.get()`` is
    ``cfg.hydra``), without the copy ``set_config`` makes."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.instance()
    saved = hc.cfg
    hc.cfg = config  # type: ignore[assignment]
    try:
        output_dir = str(OmegaConf.select(config, job_dir_key))
        if job_subdir_key is not None:
            output_dir = os.path.join(output_dir, str(OmegaConf.select(config, job_subdir_key)))
        return output_dir
    finally:
        hc.cfg = saved


def pickled_hydra_config(config: DictConfig, output_dir: str) -> Optional[PickledHydraConfig]:
    """What ``HydraConfig.set_config`` makes of ``config`` in ``run_job`` (its hydra
    node read-only, ``hydra.runtime.output_dir`` set from ``output_dir``), pickled;
    None when it does not pickle (a value of ``allow_objects``): the job copies then.

    ``set_config`` keeps ``OmegaConf.masked_copy(config, "hydra")``: a new root around
    a deep copy of the node. The copy is only pickled here, so the node itself is
    pickled under such a root instead (then given back to ``config``, flags as they
    were): the same pickle without the copy."""
    abs_dir = set_output_dir(config, output_dir)
    node = config.__dict__["_content"]["hydra"]
    root = DictConfig({})
    try:
        with flag_override(node, "readonly", True):
            root.__dict__["_content"][node._key()] = node  # one key object, as in a copy
            node.__dict__["_parent"] = root
            try:
                return abs_dir, pickle.dumps(root, protocol=pickle.HIGHEST_PROTOCOL)
            finally:
                node.__dict__["_parent"] = config
    except Exception:  # noqa: BLE001 - any pickling failure: the job copies instead
        return None


def _plain(value: Any, seen: set) -> bool:
    """Only plain YAML types, and no container twice (which YAML would anchor)."""
    kind = type(value)
    if kind not in _PLAIN:
        return False
    if kind is dict or kind is list:
        if id(value) in seen:
            return False
        seen.add(id(value))
        items = value.items() if kind is dict else enumerate(value)
        return all(_plain(k, seen) and _plain(v, seen) for k, v in items)
    return True


def _header(path: Tuple[Any, ...]) -> str:
    """The lines that open the mapping at ``path`` ("hydra:\n  job:\n")."""
    return "".join(f"{'  ' * i}{key}:\n" for i, key in enumerate(path))


def _nest(path: Tuple[Any, ...], mapping: Dict[Any, Any]) -> Dict[Any, Any]:
    for key in reversed(path):
        mapping = {key: mapping}
    return mapping


class SavedConfigRenderer:
    """Renders the ``.hydra`` files of the jobs of one sweep, keeping the text of each
    entry of ``hydra.yaml`` (two levels deep: ``hydra.job.num`` changes with every
    job, the rest of ``hydra.job`` does not) for the next job."""

    DEPTH = 2

    def __init__(self) -> None:
        self._kept: Dict[Tuple[Any, ...], Tuple[str, str]] = {}  # typed path -> (repr, text)

    def render(self, config: DictConfig, output_dir: str) -> Optional[SavedConfigs]:
        """What ``run_job`` would write to ``config.yaml``, ``hydra.yaml`` and
        ``overrides.yaml`` for this composed config, its ``hydra.runtime.output_dir``
        set to ``output_dir`` as ``run_job`` sets it; None when ``hydra.output_subdir``
        is null (``run_job`` writes nothing)."""
        if config.hydra.output_subdir is None:
            return None
        abs_dir = set_output_dir(config, output_dir)
        with hydra_node_aside(config):  # the task's config: the config minus this node
            task = OmegaConf.to_container(config, resolve=False, enum_to_str=True)
        assert isinstance(task, dict)
        del task["hydra"]
        hydra = OmegaConf.to_container(config.hydra, resolve=False, enum_to_str=True)
        return abs_dir, {
            "config.yaml": to_yaml(task),
            "hydra.yaml": self.hydra_yaml(hydra),
            "overrides.yaml": OmegaConf.to_yaml(config.hydra.overrides.task),
        }

    def hydra_yaml(self, hydra: Dict[Any, Any]) -> str:
        """``to_yaml({"hydra": hydra})``, from the entries' texts where that is the
        same text."""
        text = None
        if hydra and _plain(hydra, set()):
            text = self._entries(("hydra",), hydra, self.DEPTH)
        return _HEAD + text if text is not None else to_yaml({"hydra": hydra})

    def _entries(self, path: Tuple[Any, ...], mapping: Dict[Any, Any], depth: int) -> Optional[str]:
        """The text of the entries of the non-empty mapping at ``path``, or None where
        one cannot be written on its own (a key YAML does not write plainly)."""
        head = _header(path)
        parts = []
        for key, value in mapping.items():
            shown = repr(value)  # exact for plain values: 1, 1.0 and True differ
            where = tuple((type(k), k) for k in (*path, key))  # keys too: 1 == True
            kept = self._kept.get(where)
            if kept is None or kept[0] != shown:
                text = None
                if depth > 1 and type(value) is dict and value:
                    inner = self._entries((*path, key), value, depth - 1)
                    if inner is not None:
                        text = _header((*path, key))[len(head):] + inner
                if text is None:
                    whole = to_yaml(_nest(path, {key: value}))
                    if not whole.startswith(head):
                        return None
                    text = whole[len(head):]
                kept = self._kept[where] = (shown, text)
            parts.append(kept[1])
        return "".join(parts)
