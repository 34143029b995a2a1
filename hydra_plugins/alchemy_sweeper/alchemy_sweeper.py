"""The ``alchemy`` sweeper: a thin Hydra plugin over :mod:`hydra_plugins.alchemy_sweeper._impl`.

Its settings and their defaults are :class:`~hydra_plugins.alchemy_sweeper.config.
AlchemySweeperConf`, the one place they are written.
"""
from dataclasses import fields
from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins._alchemy_errors import compact_settings_errors
from hydra_plugins.alchemy_sweeper.config import AlchemySweeperConf

SETTINGS = tuple(f.name for f in fields(AlchemySweeperConf) if f.name != "_target_")


class AlchemySweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        # Unknown settings (`+hydra.sweeper.foo=1`) are reported by setup(), where Hydra
        # shows the error as one message.
        self.unknown = sorted(set(settings) - set(SETTINGS))
        self.settings = AlchemySweeperConf(**{k: v for k, v in settings.items() if k in SETTINGS})
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydra_plugins.alchemy_sweeper._compose import GroupCachingConfigLoader
        from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError

        with compact_settings_errors():
            if self.unknown:
                raise SweepConfigError(
                    f"hydra.sweeper.{self.unknown[0]} is not a setting of the alchemy sweeper",
                    key=f"hydra.sweeper.{self.unknown[0]}", hint=f"its settings: {', '.join(SETTINGS)}")
            # Each job is composed once in the sweep: the sweeper and the launcher share
            # this loader (and the defaults list is composed once per group choice).
            loader = GroupCachingConfigLoader(hydra_context.config_loader,
                                              cache_groups=bool(self.settings.compose_once))
            self.hydra_context = HydraContext(config_loader=loader, callbacks=hydra_context.callbacks)
            self.config = config
            self.launcher = Plugins.instance().instantiate_launcher(
                hydra_context=self.hydra_context, task_function=task_function, config=config
            )
        # instantiate() resolved the params; read them as written so that
        # interpolations in values reach each job unresolved.
        raw = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        if raw is not None:
            self.settings.params = OmegaConf.to_container(raw, resolve=False)  # type: ignore[assignment]

    def sweep(self, arguments: List[str]) -> Any:
        from hydra_plugins._alchemy_errors import AlchemySweepFailed
        from hydra_plugins.alchemy_sweeper._impl import SweepFailedError, SweepLoop

        assert self.config is not None and self.hydra_context is not None
        with compact_settings_errors():
            loop = SweepLoop(config=self.config, hydra_context=self.hydra_context, launcher=self.launcher,
                             settings=self.settings)
            try:
                return loop.run(arguments)
            except SweepFailedError as e:
                raise AlchemySweepFailed(str(e)) from e
