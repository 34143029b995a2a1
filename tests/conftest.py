"""Shared helpers: run real Hydra apps in subprocesses, as a user would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
APPS_DIR = TESTS_DIR / "apps"


def run_app(
    script: Path,
    args: Sequence[str] = (),
    *,
    cwd: Path,
    env: Optional[Dict[str, str]] = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``python script args`` in ``cwd`` and return the completed process.

    With ``check``, a nonzero exit fails the test and shows the app's output.
    """
    full_env = dict(os.environ)
    full_env.pop("HYDRA_FULL_ERROR", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=str(cwd),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"app exited {proc.returncode}\nargs: {list(args)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def app_copy(tmp_path: Path):
    """Copy a test app from tests/apps into a tmp dir; returns a factory."""

    def make(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(APPS_DIR / name, dst, ignore=shutil.ignore_patterns("outputs", "multirun", "__pycache__"))
        return dst

    return make


def output_lines(proc: subprocess.CompletedProcess, prefix: str) -> List[str]:
    return [line[len(prefix):] for line in proc.stdout.splitlines() if line.startswith(prefix)]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    """README blocks build on each other's outputs (a resume needs the sweep before it):
    whatever order the other tests run in, keep those in README order."""
    slots = [i for i, it in enumerate(items) if getattr(it, "originalname", "") == "test_runnable_block"]
    ordered = sorted((items[i] for i in slots), key=lambda it: it.callspec.params["block"].line)
    for i, it in zip(slots, ordered):
        items[i] = it


def hydra_compose(config_dir: Path, name: str, overrides: Sequence[str] = ()) -> Any:
    """The config a Hydra app with this config dir would get, composed in this process.

    Hydra keeps global state (its version base, ConfigStore, the global Hydra
    instance); it is restored afterwards, so tests that compose in-process never change
    what later tests see, whatever order they run in.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.singleton import Singleton

    state = Singleton.get_state()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return compose(name, overrides=list(overrides))
    finally:
        Singleton.set_state(state)
