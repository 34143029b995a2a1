"""Grid expansion without Hydra: order, constraints, value names, folder names."""
from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from alchemy_resolvers.authoring.tune import Param2Tune, Param2TuneError
from alchemy_resolvers.errors import AlchemyError, SettingsError
from alchemy_resolvers.grid import Axis, Grid, GridError, ZipError, display_keys, to_override_value
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


# ----------------------------------------------------------------- zipped axes


def zipped_grid(**kw):
    return Grid([
        axis("opt.lr", [0.1, 0.01, 0.001]),
        axis("seed", [0, 1]),
        axis("sched.warmup", [100, 1000, 10000]),
    ], zip_groups=[["opt.lr", "sched.warmup"]], **kw)


def test_zipped_axes_advance_together_beside_a_product_axis():
    grid = zipped_grid()
    # The group sits at its first member's place; its members stand together.
    assert grid.keys == ["lr", "warmup", "seed"]
    assert [[a.path for a in level] for level in grid.levels] == [["opt.lr", "sched.warmup"], ["seed"]]
    combos = list(grid)
    assert [tuple(grid.values(c)) for c in combos] == [
        (0.1, 100, 0), (0.1, 100, 1), (0.01, 1000, 0), (0.01, 1000, 1), (0.001, 10000, 0), (0.001, 10000, 1),
    ]
    assert combos[2].choice == (1, 1, 0)  # one index per axis, shared within the group
    assert grid.folder(combos[0]) == "lr=0·1,warmup=100,seed=0"
    assert grid.names(combos[-1]) == ["0·001", 10000, 1]
    assert grid.params(combos[0]) == {"opt.lr": (0.1, "0·1"), "sched.warmup": (100, 100), "seed": (0, 0)}
    # Overrides keep definition order, as for any axis.
    assert grid.overrides(combos[0]) == ["opt.lr=0.1", "seed=0", "sched.warmup=100"]


def test_zipped_resume_keys_are_stable_and_distinct():
    keys = [zipped_grid().key_of(c) for c in zipped_grid()]
    assert len(set(keys)) == len(keys) == 6
    assert keys == [zipped_grid().key_of(c) for c in zipped_grid()]  # a rebuilt grid agrees
    assert keys[0] == "opt.lr=0.1\x1fseed=0\x1fsched.warmup=100"


def test_zip_groups_name_axes_by_path_or_display_key():
    by_display = Grid([axis("opt.lr", [1, 2]), axis("sched.warmup", [3, 4])], zip_groups=[["lr", "warmup"]])
    assert [tuple(by_display.values(c)) for c in by_display] == [(1, 3), (2, 4)]
    by_override_key = Grid([axis("+opt.lr", [1, 2]), axis("sched.warmup", [3, 4])],
                           zip_groups=[["+opt.lr", "sched.warmup"]])
    assert len(list(by_override_key)) == 2


def test_zip_of_unequal_lengths_names_both_axes():
    with pytest.raises(ZipError, match=r"`opt.lr` \(3 values\) and `sched.warmup` \(2 values\)") as e:
        Grid([axis("opt.lr", [1, 2, 3]), axis("sched.warmup", [1, 2])], zip_groups=[["opt.lr", "sched.warmup"]])
    assert isinstance(e.value, GridError) and isinstance(e.value, SettingsError)
    assert e.value.key == "sched.warmup" and e.value.hint


def test_zip_of_an_unswept_key_lists_the_swept_keys():
    with pytest.raises(ZipError, match=r"`seed`, which is not swept; swept keys: \['a', 'b'\]"):
        Grid([axis("a", [1, 2]), axis("b", [1, 2])], zip_groups=[["a", "seed"]])


def test_axis_in_two_zip_groups_is_refused():
    with pytest.raises(ZipError, match=r"`b` is in two zip groups"):
        Grid([axis("a", [1, 2]), axis("b", [1, 2]), axis("c", [1, 2])], zip_groups=[["a", "b"], ["b", "c"]])
    # The same group twice (a config's zip repeated in hydra.sweeper.zip) counts once.
    again = Grid([axis("opt.lr", [1, 2]), axis("warmup", [3, 4])], zip_groups=[["opt.lr", "warmup"], ["warmup", "lr"]])
    assert again.keys == ["lr", "warmup"] and len(list(again)) == 2
    with pytest.raises(ZipError, match="one axis"):
        Grid([axis("a", [1, 2]), axis("b", [1, 2])], zip_groups=[["a"]])
    with pytest.raises(ZipError, match="twice"):
        Grid([axis("a", [1, 2]), axis("b", [1, 2])], zip_groups=[["a", "a"]])


def test_zip_group_takes_its_first_members_priority():
    grid = Grid([axis("seed", [0, 1]), axis("lr", [1, 2], priority=5), axis("warmup", [3, 4])],
                zip_groups=[["lr", "warmup"]])
    assert grid.keys == ["seed", "lr", "warmup"]
    first_wins = Grid([axis("seed", [0, 1], priority=1), axis("lr", [1, 2], priority=0), axis("warmup", [3, 4])],
                      zip_groups=[["lr", "warmup"]])
    assert first_wins.keys == ["lr", "warmup", "seed"]
    same = Grid([axis("lr", [1, 2], priority=2), axis("warmup", [3, 4], priority=2)], zip_groups=[["lr", "warmup"]])
    assert same.keys == ["lr", "warmup"]
    with pytest.raises(ZipError, match=r"`warmup` has priority 0 but is zipped with `lr`"):
        Grid([axis("lr", [1, 2], priority=2), axis("warmup", [3, 4], priority=0)], zip_groups=[["lr", "warmup"]])


def test_subject_to_applies_per_zipped_combination():
    grid = Grid([
        axis("bs", [32, 64]),
        axis("lr", [0.1, 0.2, 0.4]),
        axis("warmup", [10, 20, 40], subject_to="v * bs <= 1280 and v >= lr * 100"),
    ], zip_groups=[["lr", "warmup"]])
    # A zipped member reads the members before it and earlier axes; a failed member
    # drops the whole row for that combination.
    assert [tuple(grid.values(c)) for c in grid] == [
        (32, 0.1, 10), (32, 0.2, 20), (32, 0.4, 40), (64, 0.1, 10), (64, 0.2, 20),
    ]
    later = Grid([axis("lr", [0.1, 0.2]), axis("warmup", [10, 20]), axis("seed", [0, 1], subject_to="v < warmup / 10")],
                 zip_groups=[["lr", "warmup"]])
    assert [tuple(later.values(c)) for c in later] == [(0.1, 10, 0), (0.2, 20, 0), (0.2, 20, 1)]


def test_zipped_group_axes_compose_by_their_options():
    model = axis("model", ["small", "large"])
    model.is_group = True
    grid = Grid([model, axis("loader.batch_size", [32, 64])], zip_groups=[["model", "loader.batch_size"]])
    combos = list(grid)
    assert [grid.group_overrides(c) for c in combos] == [("model=small",), ("model=large",)]
    assert [grid.folder(c) for c in combos] == ["model=small,batch_size=32", "model=large,batch_size=64"]


def test_param2tune_zip_rows_become_zipped_params():
    lr, warmup = Param2Tune.zip([(0.1, 100), (0.01, 1000), (0.001, 10000)],
                                subject_to=lambda row: row != (0.01, 1000),
                                optional_value_names=[("fast", "short"), "mid", ("slow", "long")],
                                priority=-1)
    assert lr.optional_values == [0.1, 0.01, 0.001] and warmup.optional_values == [100, 1000, 10000]
    assert lr.zip_group is warmup.zip_group and lr.zip_group.members == [lr, warmup]
    assert (lr.priority, warmup.priority) == (-1, None)  # the group's priority is its first member's
    seed = Param2Tune([0, 1])
    grid = Grid([Axis.from_param("seed", seed), Axis.from_param("opt.lr", lr), Axis.from_param("sched.warmup", warmup)],
                zip_groups=[["opt.lr", "sched.warmup"]])
    assert grid.keys == ["lr", "warmup", "seed"]
    # the row (0.01, 1000) is dropped by the row constraint, for every seed
    assert [grid.folder(c) for c in grid] == [
        "lr=fast,warmup=short,seed=0", "lr=fast,warmup=short,seed=1",
        "lr=slow,warmup=long,seed=0", "lr=slow,warmup=long,seed=1",
    ]
    assert lr.zip_group is not None and seed.zip_group is None


def test_param2tune_zip_with_and_its_errors():
    lr = Param2Tune([0.1, 0.01])
    warmup = Param2Tune([100, 1000], zip_with=lr, optional_value_names=["short", "long"])
    beta = Param2Tune([0.9, 0.99], zip_with=warmup)
    assert lr.zip_group.members == [lr, warmup, beta]
    with pytest.raises(Param2TuneError, match="equal lengths: this param has 3 values"):
        Param2Tune([1, 2, 3], zip_with=lr)
    with pytest.raises(Param2TuneError, match="rows of one length"):
        Param2Tune.zip([(1, 2), (3,)])
    with pytest.raises(Param2TuneError, match="rows of one length"):
        Param2Tune.zip([(1,), (2,)])
    with pytest.raises(Param2TuneError, match="takes rows"):
        Param2Tune.zip([1, 2])
    with pytest.raises(Param2TuneError, match="2 rows but 1 optional_value_names"):
        Param2Tune.zip([(1, 2), (3, 4)], optional_value_names=["a"])
    with pytest.raises(Param2TuneError, match="3, the rows 2 wide"):
        Param2Tune.zip([(1, 2), (3, 4)], optional_value_names=[("a", "b", "c"), "d"])
    assert issubclass(Param2TuneError, SettingsError)
