"""Hydra's own contract tests for config sources, run against ``alchemy://``."""
from __future__ import annotations

from pathlib import Path

from hydra.test_utils.config_source_common_tests import ConfigSourceTestSuite
from pytest import mark

from hydra_plugins.alchemy_config_source.alchemy_config_source import AlchemyConfigSource

SUITE_DIR = Path(__file__).parent / "fixtures" / "config_source_suite"


@mark.parametrize(
    "type_, path",
    [(AlchemyConfigSource, f"alchemy://{SUITE_DIR}")],
)
class TestAlchemyConfigSource(ConfigSourceTestSuite):
    pass
