"""Fail when .ci/oldest-constraints.txt does not pin every requirement of pyproject.toml
(dependencies and all extras) to exactly its lower bound, so that the oldest-versions CI
step tests what the ranges claim. Run with any Python >= 3.11 (tomllib)."""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def norm_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def norm_version(version: str) -> str:
    return re.sub(r"(\.0)+$", "", version.strip())


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    lows: dict[str, str] = {}
    problems = []
    for req in requirements:
        m = REQ.match(req)
        if not m:
            problems.append(f"pyproject.toml: cannot read the requirement {req!r}")
            continue
        name, spec = norm_name(m.group(1)), m.group(2)
        if name == "hydra-alchemy":
            continue  # an extra that names another extra of this project
        low = re.search(r">=\s*([^,\s]+)", spec)
        if not low:
            problems.append(f"pyproject.toml: {req!r} has no lower bound (>=)")
            continue
        if lows.setdefault(name, low.group(1)) != low.group(1):
            problems.append(f"pyproject.toml: {name} has two lower bounds: {lows[name]} and {low.group(1)}")
    pins: dict[str, str] = {}
    for line in (ROOT / ".ci" / "oldest-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                problems.append(f".ci/oldest-constraints.txt: {line!r} is not NAME==VERSION")
                continue
            pins[norm_name(name.strip())] = version.strip()
    for name, low in sorted(lows.items()):
        if name not in pins:
            problems.append(f".ci/oldest-constraints.txt: no pin for {name} (pyproject.toml: >={low})")
        elif norm_version(pins[name]) != norm_version(low):
            problems.append(
                f".ci/oldest-constraints.txt pins {name}=={pins[name]}, "
                f"but pyproject.toml's lower bound is {low}: make them the same"
            )
    for name in sorted(set(pins) - set(lows)):
        problems.append(f".ci/oldest-constraints.txt pins {name}, which pyproject.toml does not require")
    for problem in problems:
        print(f"check_oldest: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_oldest: {len(lows)} lower bounds of pyproject.toml pinned in .ci/oldest-constraints.txt")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
