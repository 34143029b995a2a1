"""Hydra's own launcher/sweeper test suites, run with hydra/sweeper=alchemy."""
from pytest import mark

from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite


@mark.parametrize("launcher_name, overrides", [("basic", ["hydra/sweeper=alchemy"])])
class TestAlchemySweeperWithBasicLauncher(LauncherTestSuite):
    pass


@mark.parametrize(
    "launcher_name, overrides",
    [("basic", ["hydra/sweeper=alchemy", "hydra.sweeper.max_batch_size=2"])],
)
class TestAlchemySweeperBatched(BatchedSweeperTestSuite):
    pass


@mark.parametrize(
    "launcher_name, overrides",
    [("basic", ["hydra/sweeper=alchemy", "hydra.sweeper.compose_once=false"])],
)
class TestAlchemySweeperFullComposition(LauncherTestSuite):
    """The same suite with Hydra's own composition for every job."""


from hydra.test_utils.launcher_common_tests import IntegrationTestSuite  # noqa: E402


@mark.parametrize("task_launcher_cfg, extra_flags", [({}, ["-m", "hydra/sweeper=alchemy"])])
class TestAlchemySweeperIntegration(IntegrationTestSuite):
    """Real apps in subprocesses (-Werror): job names, user-chosen sweep dirs/subdirs."""
