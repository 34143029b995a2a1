"""The ``dep``/``rel`` resolvers and load-time annotation, without Hydra.

This file must pass with omegaconf 2.3 (under hydra-core) and 2.4 (alone): CI runs it
in both environments.
"""
from __future__ import annotations

import warnings

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

import alchemy_resolvers
from alchemy_resolvers._compat import register_resolver
from alchemy_resolvers.loading.annotate import annotate_tree, annotate_value

SCHED = {
    "epochs": 30,
    "warm_epochs": "${dep:round(0.1 * c.epochs)}",
    "main": {"T_max": "${dep:c.epochs - c.warm_epochs}"},
    "same": "${rel:epochs}",
    "flag": "$<dep:c.epochs > 20 and c.main.T_max != 0>",
}


def mount(tree, *path: str):
    """Place an annotated file tree under ``path`` the way Hydra mounts a package."""
    node = annotate_tree(tree)
    for key in reversed(path):
        node = {key: node}
    return OmegaConf.create(node)


def test_relative_root_is_the_mount_point_at_any_depth() -> None:
    for path in [(), ("sched",), ("train", "sched"), ("a", "b", "c", "d")]:
        cfg = mount(SCHED, *path)
        sched = OmegaConf.select(cfg, ".".join(path)) if path else cfg
        assert (sched.warm_epochs, sched.main.T_max, sched.same, sched.flag) == (3, 27, 30, True)


def test_update_recomputes_like_an_override() -> None:
    cfg = mount(SCHED, "sched")
    OmegaConf.update(cfg, "sched.epochs", 15)
    assert (cfg.sched.warm_epochs, cfg.sched.main.T_max, cfg.sched.same) == (2, 13, 15)


def test_annotation_quotes_python_syntax_and_keeps_other_interpolations() -> None:
    assert annotate_value("${dep:c.l[0] > 2}", 1) == "${dep:'c.l[0] > 2',1}"
    assert annotate_value("$<dep:min(c.a, 2)>", 0) == "${dep:'min(c.a, 2)',0}"
    assert annotate_value("${dep:'min(c.a, 2)'}", 2) == "${dep:'min(c.a, 2)',2}"
    assert annotate_value("${dep:c['k']}", 0) == "${dep:\"c['k']\",0}"
    assert annotate_value("run_${rel:name}_x", 3) == "run_${rel:'name',3}_x"
    assert annotate_value("${oc.env:HOME}", 0) == "${oc.env:HOME}"
    assert annotate_value("plain", 0) == "plain"
    # A dependency on a dependency inside a list: the list counts as a level.
    cfg = OmegaConf.create(annotate_tree({"n": 2, "l": ["${dep:c.n * 2}", {"x": "${dep:c.n + 1}"}]}))
    assert cfg.l[0] == 4 and cfg.l[1].x == 3


def test_quotes_inside_expressions_survive() -> None:
    cfg = OmegaConf.create(annotate_tree({"d": {"k": 5}, "v": "${dep:c.d['k'] + len(\"ab\")}", "s": "$<dep:'it' + \"'s\">"}))
    assert cfg.v == 7
    assert cfg.s == "it's"


def test_dep_reading_dep_and_root() -> None:
    cfg = mount({"a": 1, "b": "${dep:c.a + 1}", "c2": "${dep:c.b * 10}", "r": "${dep:root.top}"}, "x")
    cfg.top = 7
    assert (cfg.x.b, cfg.x.c2, cfg.x.r) == (2, 20, 7)


def test_cycle_error_names_keys() -> None:
    cfg = mount({"a": "${dep:c.b + 1}", "b": "${dep:c.c + 1}", "c": "${dep:c.a + 1}"}, "s")
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.s.a
    assert "dependency cycle: s.a -> s.b -> s.c -> s.a" in str(info.value)


def test_missing_key_error_lists_siblings() -> None:
    cfg = mount({"epochs": 1, "w": "${dep:c.epoch}"}, "sched")
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.sched.w
    msg = str(info.value)
    assert "in `sched.w`" in msg and "`c.epoch` does not exist" in msg and "epochs, w" in msg


def test_rel_missing_path_is_clear() -> None:
    cfg = mount({"epochs": 1, "w": "${rel:nope.x}"}, "sched")
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.sched.w
    assert "`nope.x` does not exist under the relative root `sched`" in str(info.value)


def test_unsafe_expression_is_refused() -> None:
    cfg = OmegaConf.create(annotate_tree({"x": "${dep:().__class__}"}))
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.x
    assert "in `x`" in str(info.value) and "not allowed" in str(info.value)


def test_views_are_read_only_and_hide_internals() -> None:
    cfg = OmegaConf.create(annotate_tree({"n": 1, "x": "${dep:c._node}"}))
    with pytest.raises(InterpolationResolutionError, match="not allowed"):
        _ = cfg.x


def test_registration_is_idempotent_and_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_resolver("dep", lambda x: x)  # replaced...
        alchemy_resolvers.deps.resolvers.register()  # ...and restored, twice
        alchemy_resolvers.deps.resolvers.register()
    assert OmegaConf.create(annotate_tree({"a": 2, "b": "${dep:c.a ** 2}"})).b == 4
