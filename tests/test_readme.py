"""The README cannot rot: its commands run, its file listings are the files.

Markers (HTML comments, invisible on GitHub) right before a fenced block:

- ``<!-- main-command -->``: the install-and-sweep command at the top. It runs from the
  repo root exactly as written, plus ``hydra.sweep.dir=<tmp>`` so that nothing lands in
  the checkout.
- ``<!-- test-command -->``: must be what ``.ci/run`` runs (not run here: it is the
  command that runs this test).
- ``<!-- runnable expect="TEXT" ... -->``: a ``bash`` block runs with ``bash -e``, a
  ``python`` block with this interpreter, in order, in one tmp dir holding a copy of
  ``example_app/`` (so later blocks see earlier blocks' outputs, as a reader's shell
  would); each must exit 0 and print every ``expect`` text.

A ``python``/``yaml`` block whose first line is ``# -- PATH --`` shows the whole file
PATH and must equal it (``# -- PATH (excerpt) --`` is exempt).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(runnable|main-command|test-command)\b(.*?)-->\s*\Z", re.S)
EXPECT = re.compile(r'expect="([^"]*)"')
FILE_HEADER = re.compile(r"^# -- (\S+?)( \(excerpt\))? --$")


@dataclass
class Block:
    lang: str
    text: str
    line: int
    kind: str = ""  # "", runnable, main-command, test-command
    expect: List[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.kind or self.lang}@L{self.line}"


def parse(markdown: str) -> List[Block]:
    blocks = []
    for m in FENCE.finditer(markdown):
        before = markdown[: m.start()].rstrip()
        block = Block(lang=m.group(1), text=m.group(2), line=markdown.count("\n", 0, m.start()) + 1)
        # The marker must be the last thing before the fence (blank lines allowed).
        tail = before[before.rfind("<!--"):] if "<!--" in before else ""
        marker = MARKER.search(tail)
        if marker and not tail[: marker.start()].strip():
            block.kind = marker.group(1)
            block.expect = EXPECT.findall(marker.group(2))
        blocks.append(block)
    return blocks


BLOCKS = parse(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.kind == "runnable"]


def ci_run_command() -> str:
    """The command `.ci/run` runs: its last line that is not a comment, `set` or `cd`."""
    lines = [
        ln.strip()
        for ln in (REPO / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.strip().startswith(("#", "set ", "cd "))
    ]
    return lines[-1]


def block_env() -> Dict[str, str]:
    env = dict(os.environ)
    # `python3` in the README means this interpreter (a venv, pyenv, ...).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for var in ("HYDRA_FULL_ERROR", "CUDA_VISIBLE_DEVICES", "HYDRA_ALCHEMY_FAKE_GPUS"):
        env.pop(var, None)
    return env


def run_block(block: Block, cwd: Path, extra: str = "") -> subprocess.CompletedProcess:
    if block.lang == "bash":
        argv = ["bash", "-e", "-c", block.text.rstrip("\n") + extra]
    elif block.lang == "python":
        script = cwd / f"readme_block_L{block.line}.py"
        script.write_text(block.text)
        argv = [sys.executable, str(script)]
    else:
        raise AssertionError(f"README line {block.line}: cannot run a ```{block.lang} block")
    proc = subprocess.run(argv, cwd=str(cwd), env=block_env(), capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"README block at line {block.line} exited {proc.returncode}:\n{block.text}\n--- output ---\n{out[-6000:]}"
    )
    for text in block.expect:
        assert text in out, f"README block at line {block.line} did not print {text!r}:\n{out[-6000:]}"
    return proc


# ----------------------------------------------------------------- the top commands


def test_first_two_commands_are_the_main_command_then_the_test_command() -> None:
    first_section = README.read_text(encoding="utf-8").split("\n## ", 1)[0]
    top = [b for b in parse(first_section) if b.lang == "bash"]
    assert [b.kind for b in top[:2]] == ["main-command", "test-command"]
    assert len([b for b in BLOCKS if b.kind == "main-command"]) == 1
    assert len([b for b in BLOCKS if b.kind == "test-command"]) == 1


def test_test_command_is_what_ci_runs() -> None:
    (block,) = [b for b in BLOCKS if b.kind == "test-command"]
    assert block.text.strip() == ci_run_command() == "bash .ci/install && .venv/bin/python -m pytest"


def test_main_command_needs_no_flag_only_the_authors_would_know() -> None:
    """A plain editable install (no editable_mode=compat) and the tunable config alone:
    it chooses the alchemy sweeper and launcher, and the launcher picks GPU or CPU."""
    import tomllib

    (block,) = [b for b in BLOCKS if b.kind == "main-command"]
    install, _, sweep = block.text.strip().partition(" && ")
    assert install == 'python3 -m pip install -e ".[example]"'
    assert sweep == "python3 example_app/train.py -m --config-name alchemy/tune/digits/cfg"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("scikit-learn") for req in extras["example"])


EXPECTED_GRID = [
    ("32", "5", "narrow"), ("32", "5", "wide"), ("128", "5", "narrow"),
    ("128", "5", "wide"), ("128", "20", "narrow"), ("128", "20", "wide"),
]


def test_main_command_runs_the_sweep_and_prints_the_frame(tmp_path: Path) -> None:
    """The whole command, pip install included, from the repo root."""
    import csv

    (block,) = [b for b in BLOCKS if b.kind == "main-command"]
    sweep = tmp_path / "main_sweep"
    proc = run_block(block, REPO, extra=f" hydra.sweep.dir={sweep}")
    out = proc.stdout + proc.stderr
    tail = out[out.rindex("Metric Frame"):]
    assert f"{sweep}/metric_frame.xlsx" in tail  # printed last: the frame, then its path
    assert (sweep / "metric_frame.xlsx").is_file()
    rows = list(csv.DictReader((sweep / "metric_frame.csv").open()))
    assert [(r["batch_size"], r["epochs"], r["hidden"]) for r in rows] == EXPECTED_GRID
    assert all(r["status"] == "COMPLETED" and float(r["val_acc"]) > 0.9 for r in rows)
    for r in rows:
        assert f"{r['batch_size']} " in tail  # every row is in the printed frame


# ------------------------------------------------------------------ runnable blocks


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("readme")
    shutil.copytree(
        REPO / "example_app", ws / "example_app",
        ignore=shutil.ignore_patterns("outputs", "multirun", "__pycache__"),
    )
    return ws


def test_readme_has_runnable_blocks_for_every_chapter() -> None:
    assert len(RUNNABLE) >= 15
    langs = {b.lang for b in RUNNABLE}
    assert langs == {"bash", "python"}


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.label for b in RUNNABLE])
def test_runnable_block(block: Block, workspace: Path) -> None:
    run_block(block, workspace)


# ------------------------------------------------------------ listings and links


FILE_BLOCKS = [b for b in BLOCKS if FILE_HEADER.match(b.text.split("\n", 1)[0])]


@pytest.mark.parametrize("block", FILE_BLOCKS, ids=[FILE_HEADER.match(b.text.split("\n", 1)[0]).group(1) for b in FILE_BLOCKS])
def test_file_listing_is_the_file(block: Block) -> None:
    header, _, body = block.text.partition("\n")
    m = FILE_HEADER.match(header)
    assert m is not None
    path = REPO / m.group(1)
    assert path.is_file(), f"README line {block.line} lists {m.group(1)}, which does not exist"
    if m.group(2):  # an excerpt: every line of it is in the file, in order
        lines = [ln for ln in body.splitlines() if ln.strip() and ln.strip() != "..." and not ln.lstrip().startswith("...")]
        text = path.read_text()
        pos = 0
        for ln in lines:
            code = ln.split("  #")[0].rstrip()  # the excerpt may add comments
            found = text.find(code, pos)
            assert found >= 0, f"README line {block.line}: {code!r} is not in {m.group(1)} (in this order)"
            pos = found + len(code)
    else:
        assert body.strip() == path.read_text().strip(), f"README line {block.line} differs from {m.group(1)}"


def test_relative_links_point_at_files() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [ln for ln in links if "://" not in ln]
    assert local, "expected links to files of the repo"
    missing = [ln for ln in local if not (REPO / ln).exists()]
    assert not missing, f"README links to missing files: {missing}"
