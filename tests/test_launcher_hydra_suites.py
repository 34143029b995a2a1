"""Hydra's own launcher test suites, run on hydra/launcher=alchemy.

CPU-only (gpus_per_job=0) and, with GPUs simulated through HYDRA_ALCHEMY_FAKE_GPUS, one
GPU per job from a pool of two: the suites must pass in both modes.
"""
import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

from hydra_plugins.alchemy_launcher.local_launcher import AlchemyLauncher


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv("HYDRA_ALCHEMY_FAKE_GPUS", "2")
    monkeypatch.setenv("HYDRA_ALCHEMY_LEASE_DIR", str(tmp_path / "leases"))


def test_discovery() -> None:
    assert AlchemyLauncher.__name__ in [x.__name__ for x in Plugins.instance().discover(Launcher)]


@pytest.mark.parametrize("launcher_name, overrides", [("alchemy", ["hydra.launcher.gpus_per_job=0"])])
class TestAlchemyLauncherCpu(LauncherTestSuite):
    pass


@pytest.mark.usefixtures("fake_gpus")
@pytest.mark.parametrize(
    "launcher_name, overrides",
    [("alchemy", ["hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]"])],
)
class TestAlchemyLauncherFakeGpus(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [("alchemy", ["hydra.launcher.gpus_per_job=0", "hydra.sweeper.max_batch_size=2"])],
)
class TestAlchemyLauncherBatched(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        (
            {
                "defaults": [
                    {"override hydra/launcher": "alchemy"},
                    {"override hydra/hydra_logging": "hydra_debug"},
                    {"override hydra/job_logging": "disabled"},
                ],
            },
            ["-m", "hydra.launcher.gpus_per_job=0"],
        )
    ],
)
class TestAlchemyLauncherIntegration(IntegrationTestSuite):
    pass
