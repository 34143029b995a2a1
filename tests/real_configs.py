"""Real configs of other projects, fetched as their released wheels, and the native
loaders to compare with (used by ``test_differential.py`` and ``bench/bench_loaders.py``).

OpenMMLab wheels carry their configs under ``<package>/.mim/configs``. A wheel is a
zip file: ``pip download --no-deps`` fetches it into a cache directory
(``$HYDRA_ALCHEMY_CONFIG_CACHE``, else ``$XDG_CACHE_HOME/hydra-alchemy/real-configs``,
else ``~/.cache/...``) once, and the configs are unpacked next to it. Versions are
pinned, so the corpus, the sample and the expected results never move.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

#: project -> (pinned version, how many configs to sample; None = every config)
PROJECTS: Dict[str, Tuple[str, Optional[int]]] = {
    "mmdet": ("3.3.0", 300),
    "mmsegmentation": ("1.2.2", 300),
    "mmpretrain": ("1.2.0", 300),
    "mmaction2": ("1.2.0", None),
    "mmagic": ("1.2.0", None),
}


def cache_dir() -> Path:
    explicit = os.environ.get("HYDRA_ALCHEMY_CONFIG_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hydra-alchemy" / "real-configs"


def fetch(project: str) -> Path:
    """The unpacked configs dir of ``project`` (downloaded on first use).

    Raises ``RuntimeError`` with pip's output when the wheel cannot be fetched.
    """
    version, _ = PROJECTS[project]
    root = cache_dir() / f"{project}-{version}"
    done = root / ".unpacked"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        wheel = _download(project, version, root)
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if "/.mim/configs/" in m]
            zf.extractall(root / "unpacked", members)
        done.write_text("ok\n")
    found = sorted((root / "unpacked").glob("*/.mim/configs"))
    if not found:
        raise RuntimeError(f"{project} {version}: the wheel has no .mim/configs")
    return found[0]


def _download(project: str, version: str, root: Path) -> Path:
    wheels = sorted(root.glob("*.whl"))
    if wheels:
        return wheels[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         f"{project}=={version}", "-d", str(root)],
        capture_output=True, text=True, timeout=600,
    )
    wheels = sorted(root.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download {project}=={version} failed:\n{proc.stdout}\n{proc.stderr}")
    return wheels[0]


def configs(project: str) -> Tuple[List[Path], int]:
    """(the sampled top-level configs of ``project``, how many there are in all).

    Top-level configs are the ``.py`` files outside ``_base_`` directories (bases are
    loaded through them). A project sampled to ``n`` gets every k-th of the sorted list,
    so the sample is the same on every machine.
    """
    _, limit = PROJECTS[project]
    root = fetch(project)
    every = sorted(p for p in root.rglob("*.py") if "_base_" not in p.relative_to(root).parts)
    if limit is None or len(every) <= limit:
        return every, len(every)
    step = len(every) / limit
    return [every[int(i * step)] for i in range(limit)], len(every)


def lists(tree: object) -> object:
    """Tuples as lists (the one documented difference of a composed config)."""
    if isinstance(tree, dict):
        return {k: lists(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [lists(v) for v in tree]
    return tree


def first_difference(ours: object, native: object, path: str = "") -> Optional[str]:
    """The first key path where two trees differ, with both values; None if equal."""
    if isinstance(ours, dict) and isinstance(native, dict):
        for key in list(native) + [k for k in ours if k not in native]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in ours:
                return f"{sub}: missing here (native: {native[key]!r:.80})"
            if key not in native:
                return f"{sub}: extra here ({ours[key]!r:.80})"
            found = first_difference(ours[key], native[key], sub)
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(native, list):
        if len(ours) != len(native):
            return f"{path}: {len(ours)} items here, {len(native)} native"
        for i, (a, b) in enumerate(zip(ours, native)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if type(ours) is not type(native) or ours != native:  # 1 is not 1.0, True is not 1
        return f"{path}: {ours!r:.80} here, {native!r:.80} native"
    return None
