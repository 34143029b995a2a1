"""``hydra.sweeper.dry_run`` and the checks before launch (``hydra.sweeper.check``),
end to end: the check_app in subprocesses, its output and files read back."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from conftest import run_app


@pytest.fixture
def app(app_copy):
    return app_copy("check_app")


def sweep(app: Path, *args: str, check: bool = True):
    args_l = list(args)
    opts = []
    if "--config-name" in args_l:
        i = args_l.index("--config-name")
        opts = args_l[i : i + 2]
        del args_l[i : i + 2]
    return run_app(app / "app.py", [*opts, "-m", "hydra.sweep.dir=out", *args_l], cwd=app, check=check)


def dry(app: Path, *args: str, check: bool = True):
    return sweep(app, *args, "hydra.sweeper.dry_run=true", check=check)


def job_lines(stdout: str) -> List[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("  ") and not line.startswith("  ...")]


def problem_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.startswith("  [") or line.startswith("      ")]


def assert_nothing_ran(app: Path) -> None:
    assert not (app / "runs.log").exists()
    out = app / "out"
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


# ----------------------------------------------------------------- listing


def test_clean_dry_run_lists_every_job_and_creates_nothing(app):
    proc = dry(app, "x=1,2", "y=3,4")
    assert "Dry run: 4 jobs (x 2 x y 2):" in proc.stdout
    assert job_lines(proc.stdout) == ["x=1,y=3: x=1 y=3", "x=1,y=4: x=1 y=4", "x=2,y=3: x=2 y=3", "x=2,y=4: x=2 y=4"]
    assert "Dry run: no problems" in proc.stdout
    assert not (app / "out").exists()  # no job folder, no multirun.yaml, no state file
    assert not (app / "runs.log").exists()


def test_dry_run_of_over_1000_jobs_lists_both_ends_and_the_count(app):
    proc = dry(app, "x=range(1,12)", "y=range(0,10)", "model.depth=range(0,10)")
    assert "Dry run: 1,100 jobs" in proc.stdout
    lines = job_lines(proc.stdout)
    assert len(lines) == 40
    assert lines[0] == "x=1,y=0,depth=0: x=1 y=0 model.depth=0"
    assert lines[19] == "x=1,y=1,depth=9: x=1 y=1 model.depth=9"
    assert lines[20] == "x=11,y=8,depth=0: x=11 y=8 model.depth=0"
    assert lines[-1] == "x=11,y=9,depth=9: x=11 y=9 model.depth=9"
    assert "  ... 1,060 more ..." in proc.stdout
    assert not (app / "out").exists()


# ----------------------------------------------------------------- problems


def test_a_target_that_does_not_import(app):
    proc = dry(app, "model=mlp,missing", "x=1,2", check=False)
    assert proc.returncode != 0
    assert ("[model=missing,x=1] model._target_ (conf/model/missing.yaml): `nets.Transformer` does not import"
            in proc.stderr)
    assert "and 1 more combination" in proc.stderr
    assert "[model=mlp" not in proc.stderr
    assert_nothing_ran(app)


def test_a_target_given_an_unknown_key_names_the_closest_parameter(app):
    proc = dry(app, "model=typo,wide", "x=1,2", check=False)
    assert proc.returncode != 0
    assert ("[model=typo,x=1] model.hiden (conf/model/typo.yaml): `hiden` is not a parameter of nets.MLP "
            "(its parameters: hidden, depth, act)") in proc.stderr
    assert "fix: did you mean `hidden`?" in proc.stderr
    assert "[model=wide" not in proc.stderr  # keyword-only `act` is a parameter; `**extra` takes anything


def test_a_dep_that_fails_for_one_value_of_an_axis_names_that_combination(app):
    proc = dry(app, "--config-name", "bad_dep", check=False)
    assert proc.returncode != 0
    problems = problem_lines(proc.stderr)
    assert problems[0].startswith("  [x=2,y=10] ratio (conf/bad_dep.yaml): does not resolve:")
    assert "ZeroDivisionError: division by zero" in problems[0]
    assert problems[0].endswith("(so do `half`, which read it)")  # one problem, not two
    assert "      and 1 more combination" in problems  # x=2,y=20
    assert "1 problem in the jobs' configs" in proc.stderr
    assert "[x=1" not in proc.stderr and "[x=3" not in proc.stderr


def test_a_p_dep_that_fails_for_one_value(app):
    proc = dry(app, "--config-name", "bad_pdep/cfg", check=False)
    assert proc.returncode != 0
    assert "[x=2] ratio (conf/bad_pdep/cfg.py:8): P_DEP does not resolve:" in proc.stderr
    assert "ZeroDivisionError" in proc.stderr
    assert "[x=1]" not in proc.stderr and "[x=3]" not in proc.stderr


def test_a_subject_to_that_raises(app):
    proc = dry(app, "--config-name", "bad_subject_to", check=False)
    assert proc.returncode != 0
    assert ("[x=1,y=10] hydra.sweeper.params.y.subject_to (conf/bad_subject_to.yaml): subject_to of `y` "
            "('v / (x - 1) > 0') raised ZeroDivisionError: division by zero") in proc.stderr
    assert "and 1 more combination" in proc.stderr  # y=20 hits it too: one problem
    assert "Dry run: 2 jobs" in proc.stdout  # x=2 passes its constraint for both values
    real = sweep(app, "--config-name", "bad_subject_to", check=False)  # a real sweep: the same list
    assert real.returncode != 0 and "raised ZeroDivisionError" in real.stderr
    assert "and 1 more combination" in real.stderr and not (app / "out").exists()


def test_a_group_option_that_does_not_compose(app):
    proc = dry(app, "model=mlp,broken", check=False)
    assert proc.returncode != 0
    assert "[model=broken] model (conf/model/broken.yaml): the config does not compose:" in proc.stderr
    assert "model/no_such_option" in proc.stderr
    assert "Config search path" not in proc.stderr


def test_every_problem_is_listed_at_once(app):
    proc = dry(app, "model=typo,missing,broken", "x=1,2", check=False)
    assert "3 problems in the jobs' configs" in proc.stderr
    assert [line.split("]")[0] for line in problem_lines(proc.stderr) if line.startswith("  [")] == [
        "  [model=typo,x=1", "  [model=missing,x=1", "  [model=broken,x=1"]


# ----------------------------------------------------------------- before a real sweep


def test_a_real_sweep_with_a_problem_runs_no_job_and_says_the_same(app):
    dry_proc = dry(app, "--config-name", "bad_dep", check=False)
    proc = sweep(app, "--config-name", "bad_dep", check=False)
    assert proc.returncode != 0
    assert "The sweep did not start: 1 problem in the jobs' configs" in proc.stderr
    assert problem_lines(proc.stderr) == problem_lines(dry_proc.stderr)
    assert "hydra.sweeper.check=false" in proc.stderr
    assert_nothing_ran(app)


def test_check_false_launches_anyway(app):
    proc = sweep(app, "--config-name", "bad_dep", "hydra.sweeper.check=false", check=False)
    assert proc.returncode != 0  # the x=2 jobs failed, as rows
    assert len((app / "runs.log").read_text().split()) == 6
    assert (app / "out" / "x=2,y=10").is_dir()
    assert "The sweep did not start" not in proc.stderr


def test_a_clean_sweep_is_checked_and_runs(app):
    sweep(app, "model=mlp,wide", "x=1,2")
    assert sorted((app / "runs.log").read_text().split()) == sorted(
        ["model=mlp,x=1", "model=mlp,x=2", "model=wide,x=1", "model=wide,x=2"])


# ----------------------------------------------------------------- the library's walk


def test_walk_reporting_matches_the_grid_and_goes_on_past_a_raising_constraint():
    from alchemy_resolvers.authoring.tune import Param2Tune
    from alchemy_resolvers.checks import walk_reporting
    from alchemy_resolvers.grid import Axis, Grid

    def grid(subject_to: str) -> Grid:
        return Grid([Axis(key="a", values=[0, 1, 2], overrides=["0", "1", "2"], names=[0, 1, 2]),
                     Axis(key="b", values=[1, 2], overrides=["1", "2"], names=[1, 2], subject_to=subject_to)])

    clean = grid("v > a")
    failures: list = []
    assert list(walk_reporting(clean, failures)) == list(clean) and failures == []

    broken = grid("v / a > 1")  # a=0 raises, a=1 keeps b=2, a=2 keeps none
    got = [broken.folder(c) for c in walk_reporting(broken, failures)]
    assert got == ["a=1,b=2"]
    assert [(f.level, f.value_index, f.chosen) for f in failures] == [(1, 0, [0]), (1, 1, [0])]

    # A Param2Tune chosen by a walk in progress keeps its value through ours.
    p = Param2Tune([1, 2])
    p.cur_val = 2
    with_param = Grid([Axis.from_param("p", p, source="config")])
    assert len(list(walk_reporting(with_param, []))) == 2
    assert p.cur_val == 2
