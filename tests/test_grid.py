"""Grid expansion without Hydra: order, constraints, value names, folder names."""
from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from alchemy_resolvers.authoring.tune import Param2Tune
from alchemy_resolvers.errors import AlchemyError, SettingsError
from alchemy_resolvers.grid import Axis, Grid, GridError, display_keys, to_override_value
from alchemy_resolvers.grid.names import value_name, value_names


def axis(key, values, **kw):
    return Axis(key=key, values=list(values), overrides=[to_override_value(v) for v in values], **kw)


def folders(grid):
    return [grid.folder(c) for c in grid]


# ----------------------------------------------------------------- AlchemyCat examples


def test_six_point_grid_in_definition_order():
    bs = Param2Tune([128, 256, 512])
    ep = Param2Tune([5, 15])
    grid = Grid([Axis.from_param("loader.ini.batch_size", bs), Axis.from_param("sched.epochs", ep)])
    assert grid.keys == ["batch_size", "epochs"]
    assert folders(grid) == [
        "batch_size=128,epochs=5",
        "batch_size=128,epochs=15",
        "batch_size=256,epochs=5",
        "batch_size=256,epochs=15",
        "batch_size=512,epochs=5",
        "batch_size=512,epochs=15",
    ]
    first = next(iter(grid))
    assert grid.overrides(first) == ["loader.ini.batch_size=128", "sched.epochs=5"]


def test_priority_and_value_names():
    bs = Param2Tune([128, 256, 512], optional_value_names=["1xbs", "2xbs", "4xbs"], priority=1)
    ep = Param2Tune([5, 15], priority=0)
    grid = Grid([Axis.from_param("loader.ini.batch_size", bs), Axis.from_param("sched.epochs", ep)])
    assert grid.keys == ["epochs", "batch_size"]
    assert folders(grid) == [
        "epochs=5,batch_size=1xbs",
        "epochs=5,batch_size=2xbs",
        "epochs=5,batch_size=4xbs",
        "epochs=15,batch_size=1xbs",
        "epochs=15,batch_size=2xbs",
        "epochs=15,batch_size=4xbs",
    ]
    # Overrides stay in definition order; only the loop order changes.
    assert grid.overrides(next(iter(grid))) == ["loader.ini.batch_size=128", "sched.epochs=5"]


def test_subject_to_reads_earlier_param_cur_val():
    cfg = {}
    cfg["bs"] = Param2Tune([128, 256, 512])
    cfg["ep"] = Param2Tune([5, 15], subject_to=lambda v: v * cfg["bs"].cur_val <= 15 * 128)
    grid = Grid([Axis.from_param("loader.ini.batch_size", cfg["bs"]), Axis.from_param("sched.epochs", cfg["ep"])])
    assert folders(grid) == ["batch_size=128,epochs=5", "batch_size=128,epochs=15", "batch_size=256,epochs=5"]


def test_subject_to_reading_a_later_param_is_an_error():
    holder = {}
    holder["a"] = Param2Tune([1, 2], subject_to=lambda v: v <= holder["b"].cur_val)
    holder["b"] = Param2Tune([1, 2])
    grid = Grid([Axis.from_param("a", holder["a"]), Axis.from_param("b", holder["b"])])
    with pytest.raises(GridError, match=r"subject_to of `a` reads a param that comes later.*`b`"):
        list(grid)


def test_expression_subject_to_with_earlier_keys():
    grid = Grid([
        axis("loader.ini.batch_size", [128, 256, 512]),
        axis("sched.epochs", [5, 15], subject_to="v * batch_size <= 15 * 128"),
    ])
    assert len(list(grid)) == 3
    dotted = Grid([
        axis("loader.ini.batch_size", [128, 256, 512]),
        axis("sched.epochs", [5, 15], subject_to="v * loader.ini.batch_size <= 15 * 128"),
    ])
    assert folders(dotted) == folders(grid)


def test_expression_reading_a_later_key_is_refused_before_expansion():
    with pytest.raises(GridError, match=r"reads `sched.epochs`, which comes later"):
        Grid([
            axis("loader.ini.batch_size", [128, 256], subject_to="v * epochs < 1000"),
            axis("sched.epochs", [5, 15]),
        ])


def test_expression_cannot_run_code():
    grid = Grid([axis("a", [1, 2], subject_to="__import__('os').system('echo hi')")])
    with pytest.raises(GridError, match="subject_to of `a`"):
        list(grid)


def test_no_legal_combination_is_a_clear_error():
    grid = Grid([axis("a", [1, 2]), axis("b", [3, 4], subject_to="v + a > 100")])
    with pytest.raises(GridError, match="no legal combination.*`b`"):
        list(grid)


def test_grid_is_lazy():
    calls = []

    def constraint(v):
        calls.append(v)
        return v % 7 != 0

    axes = [Axis.from_param(f"k{i}", Param2Tune(list(range(10)))) for i in range(4)]
    axes.append(Axis.from_param("last", Param2Tune(list(range(10)), subject_to=constraint)))
    grid = Grid(axes)  # 100,000 points
    it = iter(grid)
    first = [next(it) for _ in range(3)]
    assert [c.index for c in first] == [0, 1, 2]
    assert len(calls) < 10  # the rest of the grid was never looked at
    assert grid.folder(first[0]) == "k0=0,k1=0,k2=0,k3=0,last=1"


# ----------------------------------------------------------------- names


def test_value_names_follow_alchemycat_rules():
    class Net:
        pass

    assert value_name(128) == 128
    assert value_name(0.1) == "0·1"
    assert value_name("a/b.c") == "a-b·c"
    assert value_name(Net) == "Net"
    assert value_name(len) == "len"
    assert value_name(None) == "None"
    assert value_name((1, 2)) == "(1, 2)"
    assert value_name({"lr": 0.1}) == "{'lr': 0·1}"
    assert value_name("two\nlines") .startswith("two~")
    assert value_name(5, "five") == "five"


def test_long_and_colliding_names_are_unique_and_stable():
    long_a = "x" * 100 + "a"
    long_b = "x" * 100 + "b"
    names = value_names([long_a, long_b, 1.0, "1.0"])
    assert len(set(map(str, names))) == 4
    assert all(len(str(n)) <= 45 for n in names)
    # hashlib, not hash(): the same in a fresh process with another hash seed.
    code = (
        "from alchemy_resolvers.grid.names import value_names;"
        f"print(value_names([{long_a!r}, {long_b!r}, 1.0, '1.0']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert out == repr(names)


def test_objects_without_repr_get_stable_names():
    class Thing:
        pass

    a, b = Thing(), Thing()
    assert value_name(a) == value_name(b)  # no memory address in the name
    assert "0x" not in str(value_name(a))


def test_explicit_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        value_names([1, 2], ["x", "x"])


def test_same_leaf_key_uses_shortest_unique_suffix():
    assert display_keys(["model.enc.dim", "model.dec.dim", "lr"]) == ["enc.dim", "dec.dim", "lr"]
    assert display_keys(["a.b", "x.a.b"]) == ["a.b", "x.a.b"]
    grid = Grid([axis("model.enc.dim", [1]), axis("model.dec.dim", [2])])
    assert folders(grid) == ["enc.dim=1,dec.dim=2"]


def test_none_is_a_value():
    grid = Grid([axis("opt.clip", [None, 1.5])])
    assert [grid.overrides(c) for c in grid] == [["opt.clip=null"], ["opt.clip=1.5"]]
    assert folders(grid) == ["clip=None", "clip=1·5"]


def test_python_objects_become_value_interpolations():
    p = Param2Tune([dict, (1, 2), {"a": 1}, None, "plain"])
    ax = Axis.from_param("model.cls", p, token="ptok")
    assert ax.overrides == [
        "${alchemy_value:ptok,0}",
        "${alchemy_value:ptok,1}",
        "${alchemy_value:ptok,2}",
        "null",
        "plain",
    ]
    assert ax.names == ["dict", "(1, 2)", "{'a': 1}", "None", "plain"]


def test_priority_ties_keep_definition_order():
    grid = Grid([axis("a", [1, 2]), axis("b", [1, 2], priority=0), axis("c", [1])])
    # a: 0 (index), b: 0 (explicit), c: 2 -> a, b, c
    assert grid.keys == ["a", "b", "c"]
    combos = [tuple(grid.values(c)) for c in grid]
    assert combos == list(itertools.product([1, 2], [1, 2], [1]))


def test_grid_errors_are_settings_errors():
    # Wrong for the whole sweep: reported once, before any job, never as FAILED rows.
    assert issubclass(GridError, SettingsError) and issubclass(GridError, AlchemyError)
    assert issubclass(GridError, ValueError)
    with pytest.raises(GridError) as e:
        list(Grid([axis("a", [1, 2]), axis("b", [3, 4], subject_to="v + a > 100")]))
    assert "subject_to" in str(e.value) and "fix:" in str(e.value)


def test_string_spellings_need_no_hydra():
    assert to_override_value("adam") == "adam"
    assert to_override_value("resnet-50") == "resnet-50"
    assert to_override_value("data/train.txt") == "data/train.txt"
    assert to_override_value("with space") == "'with space'"
    assert to_override_value("1") == "'1'"
    assert to_override_value("Null") == "'Null'"
    assert to_override_value("it's") == "'it\\'s'"
    assert to_override_value([1, "a b", None]) == "[1,'a b',null]"
    assert to_override_value({"k": 0.5}) == "{k:0.5}"
