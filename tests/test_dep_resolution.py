"""Cost and results of resolving ``${dep:...}`` chains (issue #12, item 8).

No test here times anything: work is measured by the number of dependencies computed
(``evaluation_count``), which is what makes resolution linear or not.
"""
from __future__ import annotations

from typing import Any, Dict

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

import alchemy_resolvers  # noqa: F401 - registers the resolvers
from alchemy_resolvers import registry
from alchemy_resolvers.deps.resolution import DepError, DepLimitError, evaluation_count
from alchemy_resolvers.loading.annotate import annotate_tree


def load(tree: Dict[str, Any]) -> Any:
    """The tree as the config source serves it (annotated), as an OmegaConf config."""
    return OmegaConf.create(annotate_tree(tree))


def chain(n: int, step: str = "c.a{prev} + 1") -> Dict[str, Any]:
    tree: Dict[str, Any] = {"a0": 1}
    for i in range(1, n + 1):
        tree[f"a{i}"] = "${dep:" + step.format(prev=i - 1) + "}"
    return tree


def test_a_chain_of_200_resolves_with_one_evaluation_per_entry() -> None:
    cfg = load(chain(200))
    before = evaluation_count()
    assert cfg.a200 == 201
    assert evaluation_count() - before == 200


def test_a_chain_of_python_style_reads_through_lists_and_nodes() -> None:
    tree: Dict[str, Any] = {"a0": {"v": [1]}}
    for i in range(1, 120):
        tree[f"a{i}"] = {"v": ["${dep:c.a" + str(i - 1) + ".v[0] * 1 + 1}"]}
    cfg = load(tree)
    before = evaluation_count()
    assert cfg.a119.v[0] == 120
    assert evaluation_count() - before == 119


def test_a_diamond_is_evaluated_once_per_entry_per_read() -> None:
    # every entry reads the previous one twice: uncached, 2**40 evaluations
    cfg = load(chain(40, "c.a{prev} + c.a{prev}"))
    before = evaluation_count()
    assert cfg.a40 == 2 ** 40
    assert evaluation_count() - before == 40


def test_values_follow_a_change_between_reads() -> None:
    cfg = load(chain(30))
    assert cfg.a30 == 31
    cfg.a0 = 10
    assert cfg.a30 == 40


def test_the_work_limit_holds_for_the_whole_resolution() -> None:
    # each expression alone is within the limits (5000 reads); together they are not,
    # and without a shared limit the fan-out would run for hours
    cfg = load(chain(30, "sum(c.a{prev} for _ in range(5000))"))
    before = evaluation_count()
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.a30
    err = str(info.value)
    assert DepLimitError.__name__ in err
    assert "resolving `a30`" in err and "evaluation steps" in err
    assert evaluation_count() - before <= 30


def test_a_cycle_longer_than_one_stack_is_reported_by_key() -> None:
    tree = chain(40)
    tree["a0"] = "${dep:c.a40 + 1}"
    cfg = load(tree)
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.a40
    assert "dependency cycle: a40 -> a39" in str(info.value)


def test_an_expression_may_begin_with_a_quoted_string() -> None:
    cfg = load({
        "seed": 3,
        "name": "${dep:'run_' + str(c.seed)}",
        "tag": "${dep:\"s\" * c.seed}",
        "quoted_whole": "${dep:'c.seed * 2'}",
        "in_text": "x-${dep:'r' + str(c.seed)}-y",
    })
    assert (cfg.name, cfg.tag, cfg.quoted_whole, cfg.in_text) == ("run_3", "sss", 6, "x-r3-y")


class Opaque:
    pass


@pytest.mark.parametrize(
    ("expr", "what"),
    [
        ("{1, 2}", "a set"),
        ("[(x for x in c.l)]", "generator"),
        ("c.model", "a ConfigView"),
        ("c.obj", "a Opaque"),
    ],
)
def test_a_result_that_is_not_a_config_value_is_an_error_naming_the_key(expr: str, what: str) -> None:
    token = registry.register(Opaque(), __file__, "obj", "o")
    cfg = load({"l": [1, 2], "model": {"w": 1}, "obj": "${alchemy_obj:" + token + "}",
                "out": {"x": "${dep:" + expr + "}"}})
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.out.x
    err = str(info.value)
    assert DepError.__name__ in err
    assert "in `out.x`" in err and "not a config value" in err
    assert what.split()[-1] in err


def test_tuples_and_nested_containers_are_config_values() -> None:
    cfg = load({"l": [1, 2], "t": "${dep:tuple(c.l)}", "d": "${dep:{'k': [c.l[0], (1, 2)]}}"})
    assert list(cfg.t) == [1, 2]
    d = OmegaConf.to_container(OmegaConf.create({"d": cfg.d}))["d"]
    assert d["k"][0] == 1 and list(d["k"][1]) == [1, 2]  # a tuple or a list, by OmegaConf version
