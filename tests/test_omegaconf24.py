"""The resolver tests again, under omegaconf 2.4 (installed apart from Hydra by
``.ci/install``, since hydra-core 1.3 requires omegaconf < 2.4)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

VENV_PYTHON = REPO_ROOT / ".venv-omegaconf24" / "bin" / "python"


def test_resolvers_under_omegaconf_24() -> None:
    if not VENV_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{VENV_PYTHON} missing: .ci/install must create it")
        pytest.skip("no omegaconf 2.4 environment: run `bash .ci/install` to create .venv-omegaconf24")
    version = subprocess.run(
        [str(VENV_PYTHON), "-c", "import omegaconf; print(omegaconf.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert version.startswith("2.4"), version
    proc = subprocess.run(
        [str(VENV_PYTHON), "-W", "error", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path("tests") / "test_resolvers.py")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout
