"""hydra_plugins/alchemy_launcher/_runjob.py's ``run_job`` against Hydra's own
``hydra.core.utils.run_job``, and the ``.hydra/`` files the launcher renders ahead
(_savedconfigs.py) against what Hydra writes.

In this process: a Hydra app's multirun config composed as Hydra's basic launcher
composes a job (``load_sweep_config`` of the master config), then both functions run
a task on their own copy, each in its own tmp dir, and everything a user can see is
compared (the files, the JobReturn, what the task and a Hydra callback see, the cwd,
HydraConfig afterwards), with the tmp dir spelled ``<ROOT>``. Then a real app in a
subprocess, ``-m`` with hydra/launcher=alchemy and with hydra/launcher=basic.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import GrammarParseError

TASK_NAME = "runjob_app"
IDX = 3  # the job's number in the sweep
ENV_VAR = "RUNJOB_TEST_ENV_SET"
RECORDER = f"{__name__}.Recorder"
PROVENANCE = "hydra_plugins.alchemy_provenance._callback.ProvenanceCallback"
NAN, INF = float("nan"), float("inf")

USER_CONFIG: Dict[Any, Any] = {
    "name_from_hydra": "${hydra:job.name}",
    "num_from_hydra": "${hydra:job.num}",
    "out_from_hydra": "${hydra:runtime.output_dir}",
    "ref": "${nested.inner.lr}",
    "escaped": "\\${not_an_interpolation}",
    "missing": "???",
    "tag": "t1",
    "mode": "ok",
    "nested": {"inner": {"lr": 0.1, "layers": [64, 128, {"k": "v", "l": [[1, 2], []]}],
                         "empty_dict": {}, "empty_list": []}},
    "strings": {
        "quotes": "it's \"quoted\" ''",
        "colon": "key: value",
        "hash": "# not a comment",
        "hash_inside": "a #b",
        "newlines": "line1\nline2\n\nline4\n",
        "tab": "a\tb",
        "unicode": "héllo ✓ 日本語 🚀",
        "long_words": "word " * 40,
        "long_solid": "y" * 200,
        "leading_space": " lead",
        "trailing_space": "trail ",
        "empty": "",
        "looks_int": "123",
        "looks_float": "1e3",
        "looks_bool": "true",
        "looks_null": "null",
        "tilde": "~",
        "dash": "- item",
        "flow_list": "[not, a, list]",
        "flow_map": "{a: 1}",
        "percent": "%d %s",
        "backslash": "C:\\path\\to",
        "at": "@at",
        "star": "*alias",
    },
    "keys": {"key: colon": 1, "#hash": 2, "with space": 3, "true": 4, "123": 5, 7: "int key",
             "ü": 8, "k" * 130: 9, "": 10, "[x]": 11},
    "numbers": {"nan": NAN, "inf": INF, "ninf": -INF, "negzero": -0.0, "big": 2 ** 70,
                "neg": -5, "tiny": 1e-30, "one": 1, "one_float": 1.0, "t": True, "f": False,
                "none": None},
}
#: One job's overrides, as a sweeper hands them to the launcher.
JOB_OVERRIDES = ["nested.inner.lr=0.5", "+extra='a: b # c'", "strings.unicode='ünï ✓'",
                 "+lst=[1,'x: y',null]"]
#: Overrides of the whole multirun (hydra's, on the command line).
BASE_OVERRIDES = ["hydra.sweep.dir=sweep", "hydra.run.dir=run_dir"]
CALLBACK = [f"+hydra.callbacks.rec._target_={RECORDER}"]

SCENARIOS: Dict[str, Dict[str, Any]] = {
    "plain": {},
    "callback_and_env_set": {"master": [*CALLBACK, f"+hydra.job.env_set.{ENV_VAR}='from env_set: ✓'"]},
    "chdir": {"master": [*CALLBACK, "hydra.job.chdir=true"]},
    "no_output_subdir": {"master": [*CALLBACK, "hydra.output_subdir=null"]},
    "nested_output_subdir": {"master": ["hydra.output_subdir=meta/hydra files"]},
    "interpolated_subdir": {"master": [
        *CALLBACK, "hydra.sweep.subdir=${hydra.job.num}_${tag}_${hydra:job.name}"]},
    "task_raises": {"master": CALLBACK, "job": ["mode=raise"]},
    "version_base_1.1": {"master": CALLBACK, "version_base": "1.1"},  # chdir defaults to true
}


# ------------------------------------------------------------------------- the harness


class Recorder:
    """A Hydra callback (``hydra.callbacks``) that notes what it is shown."""

    def __init__(self) -> None:
        self.seen: List[Any] = []

    def on_job_start(self, config: DictConfig, *, task_function: Any, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        self.seen.append(("start", {
            "config": OmegaConf.to_container(config),
            "hydra_readonly": OmegaConf.is_readonly(config.hydra),
            "hydra_config_hangs_under_config": hc._get_parent() is config,
            "hydra_config_flags": _flags(hc) + _flags(hc.runtime),
            "output_dir": hc.runtime.output_dir,
            "num": hc.job.num,
            "cwd": os.getcwd(),
            "env": os.environ.get(ENV_VAR),
            "task_function": type(task_function).__name__,
            "files": _listing(Path(hc.runtime.output_dir)),
        }))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self.seen.append(("end", {
            "config": OmegaConf.to_container(config),
            "return": _ret_view(job_return),
            "cwd": os.getcwd(),
        }))


class Task:
    """The task function: notes what it sees, logs a line, returns or raises."""

    def __init__(self) -> None:
        self.seen: Optional[Dict[str, Any]] = None
        self.raised: Optional[BaseException] = None

    def __call__(self, cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        self.seen = {
            "cfg": OmegaConf.to_container(cfg),
            "resolved": OmegaConf.to_container(cfg, resolve=True),
            "struct": OmegaConf.is_struct(cfg),
            "readonly": OmegaConf.is_readonly(cfg),
            "name_from_hydra": cfg.name_from_hydra,
            "output_dir": hc.runtime.output_dir,
            "num": hc.job.num,
            "id": hc.job.id,
            "hydra_readonly": OmegaConf.is_readonly(hc),
            "hydra_struct": OmegaConf.is_struct(hc),
            "cwd": os.getcwd(),
            "env": os.environ.get(ENV_VAR),
            "files": _listing(Path(hc.runtime.output_dir)),
        }
        logging.getLogger("runjob_task").info("task says hi: ✓")
        if cfg.mode == "raise":
            self.raised = ValueError("boom: ünï")
            raise self.raised
        return {"lr": cfg.nested.inner.lr, "num": hc.job.num}


def _listing(path: Path) -> List[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.is_dir() else []


def _flags(node: Any) -> List[bool]:
    return [OmegaConf.is_struct(node), OmegaConf.is_readonly(node)]


def _ret_view(ret: Any) -> Dict[str, Any]:
    value = ret._return_value  # ret.return_value raises the task's exception
    if isinstance(value, BaseException):
        value = ("exception", type(value).__name__, value.args)
    try:
        resolved: Any = OmegaConf.to_container(ret.hydra_cfg, resolve=True)
    except Exception as e:  # noqa: BLE001 - the same failure in both is fine
        resolved = ("error", type(e).__name__)
    return {
        "overrides": ret.overrides,
        "status": ret.status.name,
        "return_value": value,
        "task_name": ret.task_name,
        "working_dir": ret.working_dir,
        "cfg": OmegaConf.to_container(ret.cfg),
        "hydra_cfg": OmegaConf.to_container(ret.hydra_cfg),
        "hydra_cfg_resolved": resolved,
        "hydra_cfg_keys": list(ret.hydra_cfg.keys()),
        "flags": {"cfg": _flags(ret.cfg), "cfg.nested": _flags(ret.cfg.nested),
                  "hydra_cfg": _flags(ret.hydra_cfg), "hydra_cfg.hydra": _flags(ret.hydra_cfg.hydra),
                  "hydra_cfg.hydra.job": _flags(ret.hydra_cfg.hydra.job)},
        "hydra_cfg_is_its_own": ret.hydra_cfg.hydra._get_parent() is ret.hydra_cfg,
    }


_STAMP = re.compile(r"^\[[^\]]*\]", re.M)


def _files(root: Path) -> Dict[str, str]:
    """Every file under ``root``: its text (log lines without their time stamps)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            text = p.read_text(encoding="utf-8")
            out[str(p.relative_to(root))] = _STAMP.sub("[T]", text) if p.suffix == ".log" else text
    return out


@contextlib.contextmanager
def _logging_kept():
    """run_job configures the root logger for the job (a file in the job's dir): put
    it back as it was, closing what the job added."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for h in root.handlers:
            if h not in handlers:
                h.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def norm(obj: Any, root: Path) -> Any:
    """``obj`` comparable across the two runs: the tmp dir spelled ``<ROOT>``, numbers
    with their type (1, 1.0 and True differ; nan equals nan; -0.0 is not 0.0)."""
    if isinstance(obj, dict):
        return {norm(k, root): norm(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [norm(v, root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(str(root), "<ROOT>")
    if obj is None or isinstance(obj, (bool, int, float)):
        return f"{type(obj).__name__}:{obj!r}"
    return obj


class App:
    """A Hydra app composed in this process, as ``python app.py -m ...`` composes it."""

    def __init__(self, conf_dir: Path, overrides: Sequence[str]) -> None:
        from hydra._internal.hydra import Hydra
        from hydra._internal.utils import create_config_search_path
        from hydra.types import RunMode

        hydra = Hydra.create_main_hydra2(TASK_NAME, create_config_search_path(str(conf_dir)))
        self.loader = hydra.config_loader
        self.master = hydra.compose_config("config", list(overrides), run_mode=RunMode.MULTIRUN)

    def context(self) -> Any:
        """A HydraContext with its own callbacks (as instantiated from hydra.callbacks)."""
        from hydra._internal.callbacks import Callbacks
        from hydra.types import HydraContext

        return HydraContext(config_loader=self.loader, callbacks=Callbacks(self.master))

    def sweep_config(self, overrides: Sequence[str], idx: int = IDX) -> DictConfig:
        """Job ``idx``'s config as Hydra's BasicLauncher composes it."""
        cfg = self.loader.load_sweep_config(self.master, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = idx
            cfg.hydra.job.num = idx
        return cfg


def hydras_run_job(task: Any, config: DictConfig, ctx: Any) -> Any:
    from hydra.core.utils import run_job

    return run_job(task_function=task, config=config, job_dir_key="hydra.sweep.dir",
                   job_subdir_key="hydra.sweep.subdir", hydra_context=ctx)


def our_run_job(task: Any, config: DictConfig, ctx: Any, **kwargs: Any) -> Any:
    from hydra_plugins.alchemy_launcher._runjob import run_job

    return run_job(task_function=task, config=config, job_dir_key="hydra.sweep.dir",
                   job_subdir_key="hydra.sweep.subdir", hydra_context=ctx, **kwargs)


def observe(root: Path, config: DictConfig, ctx: Any, run: Callable[..., Any]) -> Dict[str, Any]:
    """Run ``run(task, config, ctx)`` with ``root`` as the cwd; all a user can see."""
    from hydra.core.hydra_config import HydraConfig

    root.mkdir(parents=True, exist_ok=True)
    hc = HydraConfig.instance()
    before = hc.cfg = OmegaConf.create({"hydra": {"set_by": "the test"}})
    task = Task()
    old = os.getcwd()
    os.chdir(root)
    try:
        with _logging_kept():
            ret = run(task, config, ctx)
        cwd_after = os.getcwd()
    finally:
        os.chdir(old)
    recorders = [c for c in ctx.callbacks.callbacks if isinstance(c, Recorder)]
    return {
        "ret": _ret_view(ret),
        "raised_is_returned": ret._return_value is task.raised,
        "task": task.seen,
        "callbacks": [r.seen for r in recorders],
        "files": _files(root),
        "hydra_config_restored": hc.cfg is before,
        "cwd_after": cwd_after,
        "config_after": OmegaConf.to_container(config),
        "config_after_flags": [_flags(config), _flags(config.hydra)],
    }


def assert_same(hydra: Dict[str, Any], root_h: Path, ours: Dict[str, Any], root_o: Path) -> None:
    assert hydra.keys() == ours.keys()
    for key in hydra:
        assert norm(ours[key], root_o) == norm(hydra[key], root_h), key


def check_facts(obs: Dict[str, Any], root: Path, scenario: Dict[str, Any]) -> None:
    """What Hydra documents, so that a harness broken for both runs fails too."""
    master = scenario.get("master", [])
    ret, task, files = obs["ret"], obs["task"], obs["files"]
    job_dir = Path(ret["hydra_cfg"]["hydra"]["runtime"]["output_dir"])
    assert job_dir.parent == root / "sweep" and job_dir.is_dir()
    assert obs["hydra_config_restored"] and obs["cwd_after"] == str(root)
    assert task["output_dir"] == str(job_dir) and task["num"] == IDX
    assert task["name_from_hydra"] == TASK_NAME and task["resolved"]["ref"] == 0.5
    assert task["resolved"]["escaped"] == "${not_an_interpolation}"
    assert task["struct"] and task["hydra_readonly"]
    chdir = "hydra.job.chdir=true" in master or scenario.get("version_base") == "1.1"
    assert task["cwd"] == (str(job_dir) if chdir else str(root))
    assert ret["overrides"] == JOB_OVERRIDES + scenario.get("job", [])
    assert ret["task_name"] == TASK_NAME
    if "mode=raise" in scenario.get("job", []):
        assert ret["status"] == "FAILED" and obs["raised_is_returned"]
    else:
        assert ret["status"] == "COMPLETED" and ret["return_value"] == {"lr": 0.5, "num": IDX}
    rel = job_dir.relative_to(root)
    if "hydra.output_subdir=null" in master:
        assert not [f for f in files if "config.yaml" in f]
    else:
        sub = rel / ("meta/hydra files" if "=meta/" in str(master) else ".hydra")
        assert {str(sub / n) for n in ("config.yaml", "hydra.yaml", "overrides.yaml")} <= set(files)
        assert yaml.safe_load(files[str(sub / "overrides.yaml")]) == ret["overrides"]
        assert task["files"]  # written before the task ran
    assert "task says hi: ✓" in files[str(rel / f"{TASK_NAME}.log")]
    if CALLBACK[0] in master:
        [seen] = obs["callbacks"]
        assert [s[0] for s in seen] == ["start", "end"]
        assert seen[0][1]["output_dir"] == str(job_dir) and seen[0][1]["hydra_readonly"]
    if ENV_VAR in str(master):
        assert task["env"] == "from env_set: ✓" and ENV_VAR not in os.environ


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def conf_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("runjob_conf")
    (d / "config.yaml").write_text(yaml.safe_dump(USER_CONFIG, allow_unicode=True, sort_keys=False),
                                   encoding="utf-8")
    return d


@pytest.fixture
def hydra_state(hydra_restore_singletons, tmp_path, monkeypatch):
    """Hydra's globals put back afterwards; the cwd a tmp dir (its real path)."""
    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.delenv(ENV_VAR, raising=False)
    real = Path(os.path.realpath(tmp_path))
    monkeypatch.chdir(real)
    yield real
    GlobalHydra.instance().clear()


def _app(conf_dir: Path, scenario: Dict[str, Any]) -> App:
    from hydra import version

    version.setbase(scenario.get("version_base"))
    return App(conf_dir, [*BASE_OVERRIDES, *scenario.get("master", [])])


# --------------------------------------------------------- 1. the same as Hydra's run_job


@pytest.mark.filterwarnings("ignore::UserWarning")  # version_base 1.1: Hydra's deprecations
@pytest.mark.parametrize("sweep_dir", ["relative", "absolute"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_run_job_is_hydras_run_job(hydra_state, conf_dir, name, sweep_dir):
    scenario = SCENARIOS[name]
    app = _app(conf_dir, scenario)
    composed = app.sweep_config(JOB_OVERRIDES + scenario.get("job", []))
    results = {}
    for who, run in (("hydra", hydras_run_job), ("ours", our_run_job)):
        root = hydra_state / who
        config = copy.deepcopy(composed)
        if sweep_dir == "absolute":
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.sweep.dir = str(root / "sweep")
        results[who] = (observe(root, config, app.context(), run), root)
    (hydra, root_h), (ours, root_o) = results["hydra"], results["ours"]
    check_facts(hydra, root_h, scenario)
    assert_same(hydra, root_h, ours, root_o)


# ------------------------------------------ 2. the job's dir and files from the launcher


def _compose_and_observe(app: App, root: Path, overrides: Sequence[str], render_in: Optional[Path],
                         render_dir: Optional[str] = None) -> Dict[str, Any]:
    """As hydra/launcher=alchemy runs a job: ``compose_job`` (in ``root``), the files
    rendered by a SavedConfigRenderer and HydraConfig's config pickled, both for
    ``render_dir`` (default: the job's output dir) with ``render_in`` as the cwd, our
    run_job handed all three."""
    from hydra_plugins.alchemy_launcher._jobconfig import compose_job
    from hydra_plugins.alchemy_launcher._savedconfigs import SavedConfigRenderer, pickled_hydra_config

    root.mkdir(parents=True, exist_ok=True)
    ctx = app.context()
    old = os.getcwd()
    try:
        os.chdir(root)
        config, job_dir, output_dir = compose_job(ctx, app.master, list(overrides), IDX, job_id=str(IDX))
        os.chdir(render_in or root)
        saved = SavedConfigRenderer().render(config, render_dir or output_dir)
        pickled = pickled_hydra_config(config, render_dir or output_dir)
    finally:
        os.chdir(old)
    assert pickled is not None
    obs = observe(root, config, ctx, lambda task, cfg, c: our_run_job(
        task, cfg, c, output_dir=output_dir, saved_configs=saved, hydra_config=pickled))
    assert str(job_dir) == obs["ret"]["hydra_cfg"]["hydra"]["runtime"]["output_dir"]
    return obs


def _hydra_composed_and_observed(app: App, root: Path, overrides: Sequence[str]) -> Dict[str, Any]:
    old = os.getcwd()
    root.mkdir(parents=True, exist_ok=True)
    try:
        os.chdir(root)  # hydra.runtime.cwd: where the job was composed
        config = app.sweep_config(overrides)
    finally:
        os.chdir(old)
    return observe(root, config, app.context(), hydras_run_job)


@pytest.mark.parametrize("name", ["plain", "chdir", "no_output_subdir", "interpolated_subdir", "task_raises"])
def test_run_job_with_the_launchers_dir_and_files_is_hydras(hydra_state, conf_dir, name):
    scenario = SCENARIOS[name]
    app = _app(conf_dir, scenario)
    overrides = JOB_OVERRIDES + scenario.get("job", [])
    hydra = _hydra_composed_and_observed(app, hydra_state / "hydra", overrides)
    ours = _compose_and_observe(app, hydra_state / "ours", overrides, render_in=None)
    check_facts(hydra, hydra_state / "hydra", scenario)
    assert_same(hydra, hydra_state / "hydra", ours, hydra_state / "ours")


@pytest.mark.parametrize("elsewhere", ["same_relative_dir_other_cwd", "other_absolute_dir"])
def test_files_and_hydra_config_made_for_another_dir_are_not_used(hydra_state, conf_dir, elsewhere):
    scenario = SCENARIOS["callback_and_env_set"]
    app = _app(conf_dir, scenario)
    other = hydra_state / "elsewhere"
    other.mkdir()
    hydra = _hydra_composed_and_observed(app, hydra_state / "hydra", JOB_OVERRIDES)
    if elsewhere == "same_relative_dir_other_cwd":  # "sweep/3" from another cwd
        ours = _compose_and_observe(app, hydra_state / "ours", JOB_OVERRIDES, render_in=other)
    else:
        ours = _compose_and_observe(app, hydra_state / "ours", JOB_OVERRIDES, render_in=None,
                                    render_dir=str(other / "job"))
    assert not any("elsewhere" in text for text in ours["files"].values())
    assert "elsewhere" not in repr(ours["task"]) + repr(ours["ret"]) + repr(ours["callbacks"])
    assert_same(hydra, hydra_state / "hydra", ours, hydra_state / "ours")


def test_files_rendered_for_the_jobs_dir_are_written_as_given(hydra_state, conf_dir):
    """The launcher's text is what lands in .hydra/ (so the tests above compare it)."""
    from hydra_plugins.alchemy_launcher._jobconfig import compose_job

    app = _app(conf_dir, {})
    ctx = app.context()
    config, job_dir, output_dir = compose_job(ctx, app.master, JOB_OVERRIDES, IDX, job_id=str(IDX))
    given_files = {"config.yaml": "a: 1 ✓\n", "hydra.yaml": "b: 2\n", "overrides.yaml": "- c=3\n"}
    with _logging_kept():
        our_run_job(Task(), config, ctx, output_dir=output_dir,
                    saved_configs=(str(job_dir), given_files))
    assert {n: (job_dir / ".hydra" / n).read_text(encoding="utf-8") for n in given_files} == given_files


def test_the_launchers_hydra_config_is_what_the_job_sees(hydra_state, conf_dir):
    """HydraConfig and the JobReturn's hydra_cfg come from the launcher's pickle (so
    the tests above compare it), each its own copy."""
    from hydra.core.hydra_config import HydraConfig

    from hydra_plugins.alchemy_launcher._jobconfig import compose_job
    from hydra_plugins.alchemy_launcher._savedconfigs import pickled_hydra_config

    app = _app(conf_dir, {})
    ctx = app.context()
    config, job_dir, output_dir = compose_job(ctx, app.master, JOB_OVERRIDES, IDX, job_id=str(IDX))
    marked = copy.deepcopy(config)
    with read_write(marked.hydra), open_dict(marked.hydra):
        marked.hydra.job.name = "from the launcher"
    pickled = pickled_hydra_config(marked, output_dir)
    seen = []
    with _logging_kept():
        ret = our_run_job(lambda cfg: seen.append(HydraConfig.get()), config, ctx,
                          output_dir=output_dir, hydra_config=pickled)
    assert seen[0].job.name == ret.hydra_cfg.hydra.job.name == "from the launcher"
    assert seen[0]._get_parent() is config and ret.hydra_cfg.hydra is not seen[0]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_pickled_hydra_config_is_the_copy_set_config_makes(hydra_state, conf_dir, name):
    """Byte for byte what pickling Hydra's own HydraConfig.set_config copy gives (its
    hydra node's parent cut at the copy's root), and the config left as it was."""
    from hydra.core.hydra_config import HydraConfig

    from hydra_plugins.alchemy_launcher._savedconfigs import pickled_hydra_config, set_output_dir

    scenario = SCENARIOS[name]
    config = _app(conf_dir, scenario).sweep_config(JOB_OVERRIDES + scenario.get("job", []))
    reference = copy.deepcopy(config)
    set_output_dir(reference, "sweep/3")
    config_before = pickle.dumps(reference)
    hc = HydraConfig.instance()
    hc.set_config(reference)
    hc.cfg.hydra._set_parent(hc.cfg)  # as its copies (deepcopy, pickle) have it
    expected = pickle.dumps(hc.cfg, protocol=pickle.HIGHEST_PROTOCOL)

    made_for, pickled = pickled_hydra_config(config, "sweep/3")
    assert made_for == str(hydra_state / "sweep" / "3")
    assert pickled == expected
    assert pickle.dumps(config) == config_before  # flags, parent and all
    assert config.hydra._get_parent() is config and not OmegaConf.is_readonly(config.hydra)


def test_a_hydra_node_that_does_not_pickle_is_left_to_the_job(hydra_state, conf_dir):
    import threading

    from hydra_plugins.alchemy_launcher._savedconfigs import pickled_hydra_config

    config = _app(conf_dir, {}).sweep_config(JOB_OVERRIDES)
    config._set_flag("allow_objects", True)
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.lock = threading.Lock()
    assert pickled_hydra_config(config, "sweep/3") is None
    assert config.hydra._get_parent() is config and not OmegaConf.is_readonly(config.hydra)


IMPORTS_IN_A_JOB = """
import pickle, sys
from hydra_plugins.alchemy_launcher import _zygote  # what the zygote imports, then does

ctx, config = pickle.loads(open(sys.argv[1], "rb").read())
_zygote.prepare(ctx)
before = set(sys.modules)
ret = _zygote._runjob.run_job(len, config, "hydra.sweep.dir", "hydra.sweep.subdir",
                              ctx["hydra_context"])
assert ret.return_value == len(ret.cfg), ret.return_value
print(sorted(set(sys.modules) - before))
"""


def test_a_forked_job_imports_nothing_for_run_job(hydra_state, conf_dir):
    """What Hydra's run_job imports on first use (its logging set-up, OmegaConf's
    select) and what our provenance callback (on every config from a config dir)
    needs, the zygote has imported: no forked job pays for it again."""
    from hydra.core.singleton import Singleton

    from alchemy_resolvers.dispatch.payload import dumps
    from hydra_plugins.alchemy_launcher._impl import interpolations

    app = _app(conf_dir, {})
    assert PROVENANCE in str(app.master.hydra.callbacks)
    config = app.sweep_config(JOB_OVERRIDES)
    ctx = {"hydra_context": app.context(), "singleton_state": Singleton.get_state(),
           "interpolations": interpolations(config)}
    (hydra_state / "job.pkl").write_bytes(dumps((ctx, config)))  # as the launcher sends them
    p = subprocess.run([sys.executable, "-c", IMPORTS_IN_A_JOB, "job.pkl"], cwd=hydra_state,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"
    hydra_dir = hydra_state / "sweep" / str(IDX) / ".hydra"
    assert (hydra_dir / "hydra.yaml").is_file()
    assert (hydra_dir / "provenance.yaml").is_file()


def test_the_task_runs_with_the_garbage_collector_on(hydra_state, conf_dir):
    """_worker sets a job up with the collector off; the callbacks and the task never
    run without it."""
    import gc

    app = _app(conf_dir, {})
    ctx = app.context()
    seen = []
    gc.disable()
    try:
        with _logging_kept():
            ret = our_run_job(lambda cfg: seen.append(gc.isenabled()), app.sweep_config(JOB_OVERRIDES), ctx)
    finally:
        gc.enable()
        gc.unfreeze()
    assert ret.status.name == "COMPLETED" and seen == [True]


# ------------------------------------------- 3. hydra.yaml from cached entries is exact

from hydra_plugins.alchemy_launcher._savedconfigs import SavedConfigRenderer, to_yaml  # noqa: E402

KEYS = st.one_of(
    st.sampled_from(["job", "name", "a", "b", "x y", "key: v", "#h", "true", "null", "1", "",
                     "ü", "k" * 130, "-", "?", "[a]", "a.b", "id"]),
    st.integers(-3, 300),
    st.text(max_size=6),
)
SCALARS = st.one_of(
    st.sampled_from([0, 1, 1.0, True, False, None, -0.0, 0.0, NAN, INF, -INF, 2 ** 70, "1", "1.0",
                     "true", "", "null", "~", "???", "a\nb\n", "it's", '"q"', "x" * 200,
                     "word " * 50, "日本語 ✓ 🚀", "a: b", "# c", " lead", "trail ", "\t", "- d",
                     "${hydra:job.name}", "\\${x}", "\x85", "\u2028"]),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=16,
)


@st.composite
def hydra_like_sequences(draw):
    """Hydra nodes of the jobs of a sweep: each the one before with a few entries (one
    or two levels down) changed, added, or set to an equal value of another type."""
    nodes = [draw(st.dictionaries(KEYS, VALUES, max_size=6))]
    for _ in range(draw(st.integers(0, 5))):
        node = copy.deepcopy(nodes[-1])
        for _ in range(draw(st.integers(0, 3))):
            key, sub, value = draw(KEYS), draw(st.none() | KEYS), draw(VALUES)
            if node and draw(st.booleans()):
                key = draw(st.sampled_from(list(node)))
            if sub is None:
                node[key] = value
            else:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node[key][sub] = value
        nodes.append(node)
    return nodes


@settings(max_examples=200, deadline=None)
@given(hydra_like_sequences())
def test_hydra_yaml_from_cached_entries_is_the_whole_dump(nodes):
    renderer = SavedConfigRenderer()
    for node in nodes:
        expected = to_yaml({"hydra": node})
        assert renderer.hydra_yaml(node) == expected
        try:  # and to_yaml is what OmegaConf.to_yaml writes (Hydra's _save_config)
            cfg = OmegaConf.create({"hydra": node})
        except GrammarParseError:  # "${" that is no interpolation: no config holds that
            continue
        assert OmegaConf.to_yaml(cfg) == expected


def test_equal_values_of_another_type_are_not_reused():
    renderer = SavedConfigRenderer()
    for value in [1, 1.0, True, "1", 1, -0.0, 0.0, 0, False, None, "null", NAN, "nan", [1], [1.0], {"a": 1},
                  {"a": True}, {1: 1}, {"1": 1}]:
        node = {"job": {"num": value, "name": "x"}, "v": value}
        assert renderer.hydra_yaml(node) == to_yaml({"hydra": node}), value


def test_shared_containers_are_dumped_with_their_anchors():
    separate = {"a": [1, 2], "b": {"x": [1, 2], "y": {"k": "v"}}, "c": {"k": "v"}}
    shared_list, shared_dict = [1, 2], {"k": "v"}
    shared = {"a": shared_list, "b": {"x": shared_list, "y": shared_dict}, "c": shared_dict}
    renderer = SavedConfigRenderer()
    for node in (separate, shared, separate, shared):
        expected = to_yaml({"hydra": node})
        assert renderer.hydra_yaml(node) == expected
    assert "&id001" in to_yaml({"hydra": shared})


def test_an_empty_hydra_node():
    assert SavedConfigRenderer().hydra_yaml({}) == to_yaml({"hydra": {}}) == "hydra: {}\n"


@pytest.mark.parametrize("first, second", [(1, True), (1, 1.0), (0, False)])
def test_bool_and_float_keys_are_not_taken_for_int_keys(first, second):
    """True == 1 == 1.0 as dict keys: the cache must not hand one's text to the other."""
    renderer = SavedConfigRenderer()
    for node in ({"job_logging": {first: "v"}}, {"job_logging": {second: "v"}}):
        assert renderer.hydra_yaml(node) == to_yaml({"hydra": node})


# ------------------------------------- 4. a real app: hydra/launcher=alchemy vs =basic

APP = '''
import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg: DictConfig) -> int:
    print(f"RUNJOB x={cfg.x} name={cfg.name_from_hydra}")
    return cfg.x


if __name__ == "__main__":
    main()
'''


def _multirun(app_dir: Path, tmp_path: Path, launcher: str, *overrides: str) -> Path:
    sweep = tmp_path / f"sweep_{launcher}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "HYDRA_FULL_ERROR", ENV_VAR)}
    env.update(HYDRA_ALCHEMY_FAKE_GPUS="0", HYDRA_ALCHEMY_LEASE_DIR=str(tmp_path / "leases"))
    cmd = [sys.executable, str(app_dir / "app.py"), "-m", f"hydra/launcher={launcher}",
           f"hydra.sweep.dir={sweep}", *overrides]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return sweep


def _launcher_neutral(text: str, sweep: Path) -> str:
    """hydra.yaml without what names the launcher: the hydra.launcher block, the
    hydra/launcher choice, the launcher's overrides, job.id; the sweep dir spelled
    <SWEEP>."""
    out, in_launcher, section = [], False, None
    for line in text.replace(str(sweep), "<SWEEP>").splitlines(keepends=True):
        indent = len(line) - len(line.lstrip(" "))
        if in_launcher and indent > 2:
            continue
        in_launcher = line == "  launcher:\n"
        if in_launcher:
            out.append("  launcher: <LAUNCHER>\n")
            continue
        if indent == 2:
            section = line.strip()
        if re.match(r"^ *- hydra(/launcher=|\.launcher\.)", line):
            continue
        if line.startswith("      hydra/launcher: "):
            line = "      hydra/launcher: <LAUNCHER>\n"
        if section == "job:" and line.startswith("    id: "):
            line = "    id: <ID>\n"
        out.append(line)
    return "".join(out)


def test_alchemy_and_basic_launchers_write_the_same_hydra_files(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    user = {**USER_CONFIG, "x": 0}
    (app_dir / "config.yaml").write_text(yaml.safe_dump(user, allow_unicode=True, sort_keys=False),
                                         encoding="utf-8")
    sweep_args = ["x=1,2,3", "+extra='a: b # c'", "strings.unicode='ünï ✓'"]
    alchemy = _multirun(app_dir, tmp_path, "alchemy", "hydra.launcher.gpus_per_job=0", *sweep_args)
    basic = _multirun(app_dir, tmp_path, "basic", *sweep_args)
    for num in range(3):
        a, b = alchemy / str(num) / ".hydra", basic / str(num) / ".hydra"
        names = sorted(p.name for p in a.iterdir())
        assert names == sorted(p.name for p in b.iterdir())
        assert {"config.yaml", "hydra.yaml", "overrides.yaml"} <= set(names)
        for name in ("config.yaml", "overrides.yaml"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), (num, name)
        assert f"x={num + 1}" in (a / "overrides.yaml").read_text()
        ha, hb = (a / "hydra.yaml").read_text("utf-8"), (b / "hydra.yaml").read_text("utf-8")
        assert ha != hb and "hydra/launcher: alchemy" in ha and "hydra/launcher: basic" in hb
        assert _launcher_neutral(ha, alchemy) == _launcher_neutral(hb, basic), num
        assert f"    num: {num}\n" in ha and f"output_dir: {alchemy / str(num)}\n" in ha
