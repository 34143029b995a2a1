"""The ``alchemy`` sweeper: a thin Hydra plugin over :mod:`hydra_plugins.alchemy_sweeper._impl`."""
from typing import Any, Dict, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class AlchemySweeper(Sweeper):
    def __init__(
        self,
        max_batch_size: Optional[int] = None,
        params: Optional[Dict[str, Any]] = None,
        priorities: Optional[Dict[str, float]] = None,
        gather: Optional[str] = None,
        resume: bool = False,
        job_folders: bool = True,
        job_links: bool = True,
        compose_once: bool = True,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.params = params
        self.priorities = priorities
        self.gather = gather
        self.resume = resume
        self.job_folders = job_folders
        self.job_links = job_links
        self.compose_once = compose_once
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        if self.compose_once:
            from hydra_plugins.alchemy_sweeper._impl import GroupCachingConfigLoader

            hydra_context = HydraContext(
                config_loader=GroupCachingConfigLoader(hydra_context.config_loader),
                callbacks=hydra_context.callbacks,
            )
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        # instantiate() resolved the params; read them as written so that
        # interpolations in values reach each job unresolved.
        raw = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        if raw is not None:
            self.params = OmegaConf.to_container(raw, resolve=False)  # type: ignore[assignment]

    def sweep(self, arguments: List[str]) -> Any:
        from hydra_plugins.alchemy_sweeper._impl import SweepLoop

        assert self.config is not None and self.hydra_context is not None
        loop = SweepLoop(
            config=self.config,
            hydra_context=self.hydra_context,
            launcher=self.launcher,
            params=self.params,
            max_batch_size=self.max_batch_size,
            gather=self.gather,
            resume=self.resume,
            priorities=dict(self.priorities or {}),
            job_folders=self.job_folders,
            job_links=self.job_links,
        )
        return loop.run(arguments)
