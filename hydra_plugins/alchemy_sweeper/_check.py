"""Checks of every job of a sweep before launch, and ``hydra.sweeper.dry_run``.

A sweep whose 40th job has a typo in a ``_target_`` key, or whose ``${dep:...}``
divides by zero for one value of an axis, should fail before the first job, not after
hours of the first 39. So before launch (``hydra.sweeper.check``, on by default) and in
a dry run, every job that could differ is checked the way the job itself would use its
config: composed, every interpolation resolved (``${dep}``, ``P_DEP``), every
``subject_to`` evaluated, every ``_target_`` imported with its keys compared with its
signature. All problems are listed in one :class:`SweepCheckError`; no job starts.

Which jobs are composed: not all of them (100,000 jobs must check in seconds). One job
per distinct set of config-group choices, its *representative* (the first in grid
order), and, for every value of every other (value) axis, the first job of that group
with that value: the *witnesses*. The representative is composed like the sweep
composes a job (:mod:`._compose`: the defaults list, then the job's overrides on a
copy); each further witness of the group differs in value axes only, and gets just
those overrides applied to the same config, so it costs a few overrides and the
checks. A problem that only a combination of two values causes (and no single value)
is not found; the job still reports it as its FAILED row. The checks compose with a
loader of their own over Hydra's, so the sweep's caches and counters are untouched and
the sweep still composes each job exactly once itself.

How many jobs a problem affects: a problem seen on the witnesses of some values of an
axis is taken to come from those values; the grid is walked once more (only when
there are problems) to count the combinations with such values, and to name the first.

The Hydra-free parts (walking the grid, resolving leaves, ``_target_`` signatures,
the error) are :mod:`alchemy_resolvers.checks`.
"""
from __future__ import annotations

import collections
import copy
import logging
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from alchemy_resolvers.checks import (
    ConstraintFailure,
    Problem,
    SweepCheckError,
    TargetChecker,
    resolve_leaves,
    walk_reporting,
)
from alchemy_resolvers.checks.resolve import describe_error
from alchemy_resolvers.checks.walk import partial_folder
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.grid import Combination, Grid, GridError
from alchemy_resolvers.grid.constraints import empty_message

from hydra_plugins.alchemy_sweeper._compose import apply_overrides
from hydra_plugins.alchemy_sweeper._files import ConfigFiles
from hydra_plugins.alchemy_sweeper._overrides import parser, subdir_override

__all__ = ["dry_run", "check_before_launch", "check_jobs"]

log = logging.getLogger(__name__)

#: A dry run lists every job up to this many; beyond, the first and last LIST_ENDS.
LIST_ALL = 1000
LIST_ENDS = 20
_PARAMS = "hydra.sweeper.params"

# A problem's identity (key, file, message, hint) and, per value axis (position in
# grid order), the value indices it was seen with (absent: any value).
_Identity = Tuple[str, Optional[str], str, Optional[str]]
_Pattern = Dict[int, FrozenSet[int]]


# ----------------------------------------------------------------------------- the entry points


def dry_run(loop: Any, grid: Grid) -> List[List[Any]]:
    """``hydra.sweeper.dry_run=true``: print the jobs, check them, run none.

    Nothing is written (no job folder, nothing in the sweep dir). Returns no job
    returns when every check passes; raises :class:`SweepCheckError` otherwise.
    """
    survey = _Survey.of(grid, keep=LIST_ALL + 1)
    print(_listing(grid, survey, loop.name_folders))
    problems, checked = check_jobs(loop, grid, survey)
    if problems:
        raise SweepCheckError(f"Dry run: {_n(len(problems), 'problem')} in the jobs' configs "
                              f"({checked}):", problems)
    print(f"Dry run: no problems ({checked}). Nothing ran; drop hydra.sweeper.dry_run=true to run it.")
    return []


def check_before_launch(loop: Any, grid: Grid) -> None:
    """``hydra.sweeper.check=true`` (the default): the checks, before the first job."""
    start = time.perf_counter()
    survey = _Survey.of(grid, keep=0)
    problems, checked = check_jobs(loop, grid, survey)
    log.debug(f"Checks before launch: {checked} in {time.perf_counter() - start:.3f}s")
    if problems:
        raise SweepCheckError(
            f"The sweep did not start: {_n(len(problems), 'problem')} in the jobs' configs ({checked}); "
            "no job ran:", problems,
            footer="hydra.sweeper.dry_run=true lists the jobs and checks them again; "
                   "hydra.sweeper.check=false starts the sweep without these checks")


def check_jobs(loop: Any, grid: Grid, survey: "_Survey") -> Tuple[List[Tuple[Problem, int]], str]:
    """Every distinct problem with how many more combinations have it, and a few words
    on what was checked."""
    if survey.count == 0 and not survey.failures:
        raise GridError(empty_message(grid.axes), hint="loosen a subject_to constraint or add values")
    files = ConfigFiles(loop.config)
    problems = _constraint_problems(grid, survey.failures, files)
    checker = _JobChecker(loop, grid, files)
    patterns: Dict[Tuple[Tuple[int, ...], _Identity], Tuple[_Pattern, Problem]] = {}
    for g, seen in survey.witnesses.items():
        for identity, (pattern, problem) in checker.check_group(seen).items():
            patterns[(g, identity)] = (pattern, problem)
    problems += _count(grid, survey, patterns)
    checked = (f"{_n(checker.checked, 'job')} of {survey.count:,} checked, "
               f"{_n(len(survey.witnesses), 'config-group choice')}")
    return problems, checked


def _n(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------- the walk


@dataclass
class _Survey:
    """One walk of the grid: the count, the jobs to list, the jobs to check and the
    constraints that raised."""

    count: int = 0
    head: List[Combination] = field(default_factory=list)
    tail: Deque[Combination] = field(default_factory=lambda: collections.deque(maxlen=LIST_ENDS))
    #: group choices (value indices of the group axes) -> (value axis position, value
    #: index) -> the first combination with it; the first of the group under ``None``.
    witnesses: Dict[Tuple[int, ...], Dict[Any, Combination]] = field(default_factory=dict)
    failures: List[ConstraintFailure] = field(default_factory=list)

    @classmethod
    def of(cls, grid: Grid, keep: int) -> "_Survey":
        """Walk ``grid`` once; ``keep``: how many first combinations to keep for listing."""
        s = cls()
        gpos = [p for p, a in enumerate(grid.axes) if a.is_group]
        vpos = [p for p, a in enumerate(grid.axes) if not a.is_group]
        for combo in walk_reporting(grid, s.failures):
            s.count += 1
            if len(s.head) < keep:
                s.head.append(combo)
            s.tail.append(combo)
            c = combo.choice
            g = tuple(c[p] for p in gpos)
            seen = s.witnesses.get(g)
            if seen is None:
                seen = s.witnesses[g] = {None: combo}
            for p in vpos:
                k = (p, c[p])
                if k not in seen:
                    seen[k] = combo
        return s


def _listing(grid: Grid, survey: _Survey, name_folders: bool) -> str:
    """The dry run's list of jobs: all of them up to LIST_ALL, else both ends."""
    sizes = " x ".join(f"{a.display} {len(a.values)}" for a in grid.axes)
    lines = [f"Dry run: {_n(survey.count, 'job')}" + (f" ({sizes})" if sizes else "")
             + ("" if name_folders else " (the folders follow your hydra.sweep.subdir)") + ":"]

    def line(combo: Combination) -> str:
        return f"  {grid.folder(combo)}: {' '.join(grid.overrides(combo)) or '(no overrides)'}"

    if survey.count <= len(survey.head):
        lines += [line(c) for c in survey.head]
    else:
        lines += [line(c) for c in survey.head[:LIST_ENDS]]
        lines.append(f"  ... {survey.count - 2 * LIST_ENDS:,} more ...")
        lines += [line(c) for c in survey.tail]
    return "\n".join(lines)


def _constraint_problems(grid: Grid, failures: Sequence[ConstraintFailure],
                         files: "ConfigFiles") -> List[Tuple[Problem, int]]:
    """One problem per distinct ``subject_to`` failure, with its count."""
    found: Dict[_Identity, List[Any]] = {}
    for f in failures:
        axis = grid.axes[f.level]
        key = f"{_PARAMS}.{axis.key}.subject_to" if axis.source == _PARAMS else axis.path
        folder = partial_folder(grid.axes, f.chosen + [f.value_index])
        problem = Problem(folder, key, files.primary, _constraint_message(axis, f.error),
                          f.error.hint or "make the constraint return True or False for every combination")
        entry = found.setdefault(problem.identity(), [problem, -1])
        entry[1] += 1
    return [(p, more) for p, more in found.values()]


def _constraint_message(axis: Any, error: GridError) -> str:
    """What raised, without the value (the combination names it), so that one broken
    constraint is one problem however many values hit it."""
    cause = error.__cause__
    if cause is None:
        return str(error.args[0]) if error.args else str(error)
    where = f"subject_to of `{axis.path}`" + (f" ({axis.subject_to!r})" if isinstance(axis.subject_to, str) else "")
    return f"{where} raised {type(cause).__name__}: {cause}"


def _count(grid: Grid, survey: _Survey,
           patterns: Dict[Tuple[Tuple[int, ...], _Identity], Tuple[_Pattern, Problem]]) -> List[Tuple[Problem, int]]:
    """Merge problems seen in several groups and count the combinations each affects
    (a second walk, only when there are problems); name the first of them."""
    if not patterns:
        return []
    gpos = [p for p, a in enumerate(grid.axes) if a.is_group]
    by_group: Dict[Tuple[int, ...], List[Tuple[_Identity, _Pattern]]] = collections.defaultdict(list)
    for (g, identity), (pattern, _) in patterns.items():
        by_group[g].append((identity, pattern))
    counts: Dict[_Identity, int] = collections.Counter()
    first: Dict[_Identity, Combination] = {}
    for combo in walk_reporting(grid, []):
        c = combo.choice
        for identity, pattern in by_group.get(tuple(c[p] for p in gpos), ()):
            if all(c[p] in values for p, values in pattern.items()):
                counts[identity] += 1
                first.setdefault(identity, combo)
    out: Dict[_Identity, Tuple[Problem, int]] = {}
    for (g, identity), (_, problem) in patterns.items():
        if identity in out:
            continue
        if identity in first:
            problem = Problem(grid.folder(first[identity]), problem.key, problem.file, problem.message, problem.hint)
        out[identity] = (problem, max(counts.get(identity, 1), 1) - 1)
    return list(out.values())


# ----------------------------------------------------------------------------- one job


class _JobChecker:
    """Composes the witness jobs of a group and checks each.

    The group's representative is composed as the sweep composes a job (the defaults
    list once, then the job's overrides on a copy). Each further witness differs in
    value axes only, so its
    differing overrides are applied to that same config in place, with Hydra's own last
    composition step, instead of composing it again: a few overrides instead of a copy
    of the whole config. Where that would not give the job's config (an axis that
    deletes, sets a ``hydra.`` key, or holds another axis' key), every witness is
    composed whole.
    """

    def __init__(self, loop: Any, grid: Grid, files: "ConfigFiles") -> None:
        self.loop = loop
        # A loader of our own over the same Hydra loader (a copy keeps the inner loader,
        # not the caches): the sweep's caches, kept configs and counters stay as they
        # were, so each job is still composed exactly once by the sweep itself.
        self.loader = copy.copy(loop.jobs.loader)
        self.grid = grid
        self.files = files
        self.targets = TargetChecker()
        self.checked = 0
        self._vpos = [p for p, a in enumerate(grid.axes) if not a.is_group]
        self._parsed: Dict[str, Any] = {}
        paths = [a.path for a in grid.axes]
        self._in_place = not any(
            a.key.startswith("~") or a.path.startswith("hydra.") or a.path == "hydra"
            or any(o != a.path and o.startswith(a.path + ".") for o in paths)
            for a in (grid.axes[p] for p in self._vpos))

    def check_group(self, seen: Dict[Any, Combination]) -> Dict[_Identity, Tuple[_Pattern, Problem]]:
        """Problems of one group's witnesses, each with the values it was seen with.

        The first witness (the representative) is composed; each next one is moved to
        from the config of the one before. A witness that does not compose, or whose
        overrides do not apply, is a problem, and the next one is composed afresh."""
        results: Dict[int, Dict[_Identity, Problem]] = {}
        cfg: Optional[DictConfig] = None
        state: Tuple[int, ...] = ()
        for combo in seen.values():  # the representative first
            if combo.index in results:
                continue
            if cfg is None:
                cfg, problem = self._compose(combo)
            else:
                cfg, problem = self._move(cfg, state, combo)
            if cfg is None:
                assert problem is not None
                results[combo.index] = {problem.identity(): problem}
                continue
            state = combo.choice
            results[combo.index] = self._check(cfg, combo)
        return self._patterns(seen, results)

    def _patterns(self, seen: Dict[Any, Combination],
                  results: Dict[int, Dict[_Identity, Problem]]) -> Dict[_Identity, Tuple[_Pattern, Problem]]:
        """For each problem, the values of each value axis whose witnesses showed it.

        Seen with some values of an axis only: those values cause it. Seen with all of
        them, or none (it came with another axis' value): any value of this axis."""
        found: Dict[_Identity, Tuple[_Pattern, Problem]] = {}
        for problems in results.values():
            for identity, problem in problems.items():
                found.setdefault(identity, ({}, problem))
        for identity, (pattern, _) in found.items():
            for p in self._vpos:
                witnessed = [k[1] for k in seen if k is not None and k[0] == p]
                values = {i for i in witnessed if identity in results.get(seen[(p, i)].index, {})}
                if values and len(values) < len(witnessed):
                    pattern[p] = frozenset(values)
        return found

    # -- one job's config ------------------------------------------------------------------
    def _compose(self, combo: Combination) -> Tuple[Optional[DictConfig], Optional[Problem]]:
        """The job's config, composed as the sweep composes it, or the problem."""
        folder = self.grid.folder(combo)
        overrides = self.grid.overrides(combo) + ([subdir_override(folder)] if self.loop.name_folders else [])
        try:
            return self.loader.load_sweep_config(self.loop.config, overrides), None
        except Exception as e:  # noqa: BLE001 - whatever composing raises fails the job
            return None, self._composition_problem(combo, folder, e)

    def _move(self, cfg: DictConfig, state: Tuple[int, ...],
              combo: Combination) -> Tuple[Optional[DictConfig], Optional[Problem]]:
        """``cfg`` (the config of the job with choices ``state``) turned into ``combo``'s."""
        if not self._in_place:
            return self._compose(combo)
        for p in self._vpos:
            if state[p] == combo.choice[p]:
                continue
            axis = self.grid.axes[p]
            line = f"{axis.key.lstrip('+')}={axis.overrides[combo.choice[p]]}"
            try:
                _apply(cfg, [self._parse(line)])
            except Exception as e:  # noqa: BLE001 - an override that does not apply fails the job
                message, hint = describe_error(e)
                return None, Problem(self.grid.folder(combo), axis.path, self.files.primary,
                                     f"the override `{line}` does not apply: {message}",
                                     hint or f"give `{axis.path}` only values its config accepts")
        return cfg, None

    def _parse(self, line: str) -> Any:
        parsed = self._parsed.get(line)
        if parsed is None:
            parsed = self._parsed[line] = parser().parse_override(line)
        return parsed

    def _check(self, cfg: DictConfig, combo: Combination) -> Dict[_Identity, Problem]:
        """Problems of one job's config, by identity."""
        self.checked += 1
        folder = self.grid.folder(combo)
        problems = []
        resolved, failures = resolve_leaves(cfg)
        if failures:  # maybe only for want of the job's hydra node: retry as the job sees it
            with _as_job(cfg, combo.index):
                resolved, failures = resolve_leaves(cfg)
        described = {f.key: (f, *describe_error(f.error)) for f in failures}
        for key, (f, message, hint, readers) in _root_causes(described).items():
            what = "" if "${" in message else f"{_what(f.raw)} "  # the library's errors show it
            also = f" (so do {', '.join(f'`{r}`' for r in readers)}, which read it)" if readers else ""
            problems.append(Problem(folder, key, self.files.of(cfg, key), f"{what}does not resolve: {message}{also}",
                                    hint or _resolve_hint(f.raw)))
        for issue in self.targets.issues(resolved):
            problems.append(Problem(folder, issue.key, self.files.of(cfg, issue.key), issue.message, issue.hint))
        return {p.identity(): p for p in problems}

    def _composition_problem(self, combo: Combination, folder: str, error: BaseException) -> Problem:
        groups = [(a, a.overrides[i]) for a, i in zip(self.grid.axes, combo.choice) if a.is_group]
        merging = _MERGING.search(str(error))  # a value override the config refuses
        key = merging.group(1).lstrip("+~") if merging else ",".join(a.key for a, _ in groups) or "defaults"
        file = _error_file(error) or next(
            (f for f in (self.files.option(a.key, opt) for a, opt in groups) if f), None) or self.files.primary
        message, hint = describe_error(error)
        message = message.split("Config search path:", 1)[0].strip()  # Hydra's list of every config dir
        default_hint = (f"give `{key}` only values its config accepts" if merging
                        else "fix the config file, or leave this option out of the sweep")
        return Problem(folder, key, file, f"the config does not compose: {message}", hint or default_hint)


def _root_causes(described: Dict[str, Tuple[Any, str, Optional[str]]]) -> Dict[str, Tuple[Any, str, Optional[str], List[str]]]:
    """Failing leaves that fail on their own, each with the failing leaves that only
    fail because they read it (their message names it: ``in `sched.warm_epochs```)."""
    roots: Dict[str, Tuple[Any, str, Optional[str], List[str]]] = {}
    readers: Dict[str, List[str]] = collections.defaultdict(list)
    for key, (f, message, hint) in described.items():
        cause = next((k for k in described if k != key and f"in `{k}`" in message), None)
        if cause is None:
            roots[key] = (f, message, hint, readers[key])
        else:
            readers[cause].append(key)
    if not roots:  # they name each other (a cycle): each is its own problem
        return {key: (f, message, hint, []) for key, (f, message, hint) in described.items()}
    return roots


def _apply(cfg: DictConfig, overrides: List[Any]) -> None:
    """Hydra's last composition step on ``cfg``, read-only flags kept."""
    readonly = OmegaConf.is_readonly(cfg)
    OmegaConf.set_readonly(cfg, False)
    try:
        apply_overrides(cfg, overrides)
    finally:
        OmegaConf.set_readonly(cfg, readonly)


#: Hydra's ConfigCompositionException for an override that does not merge.
_MERGING = re.compile(r"Error merging override ([^=\s]+)=")
_LOWERED_DEP = re.compile(r"^\$\{dep:'(.*)',-?\d+\}$", re.S)


def _what(raw: Any) -> str:
    """The failing value as the user wrote it."""
    text = str(raw)
    if text.startswith("${alchemy_pdep:"):
        return "P_DEP"
    m = _LOWERED_DEP.match(text)
    if m:
        return f"`${{dep:{m.group(1)}}}`".replace("\\'", "'")
    return f"interpolation `{text}`"


def _resolve_hint(raw: Any) -> str:
    if str(raw).startswith("${alchemy_pdep:"):
        return "make the P_DEP compute for every combination of the sweep"
    return "make it resolve for every combination of the sweep (or exclude the combination with subject_to)"


def _error_file(error: BaseException) -> Optional[str]:
    """The file an error of the library names, anywhere in its chain."""
    seen = set()
    cur: Optional[BaseException] = error
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, AlchemyError) and cur.file:
            return ConfigFiles.show(cur.file)
        cur = cur.__cause__ or cur.__context__
    return None


@contextmanager
def _as_job(cfg: DictConfig, index: int) -> Iterator[None]:
    """``${hydra:...}`` resolves as in the job: HydraConfig holds this job's hydra node,
    with the number and output dir the launcher and ``run_job`` give it."""
    from hydra.core.hydra_config import HydraConfig

    holder = HydraConfig.instance()
    previous = holder.cfg
    try:
        holder.set_config(cfg)
        hydra = holder.cfg.hydra
        OmegaConf.set_readonly(hydra, False)
        hydra.job.num = index
        hydra.job.id = index
        try:
            hydra.runtime.output_dir = os.path.abspath(os.path.join(str(hydra.sweep.dir), str(hydra.sweep.subdir)))
        except Exception:  # noqa: BLE001 - an output dir that does not resolve stays unset
            pass
        OmegaConf.set_readonly(hydra, True)
        yield
    finally:
        holder.cfg = previous
