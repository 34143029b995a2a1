"""A no-op task over conf/ with a structured config in Hydra's ConfigStore (the
``trainer`` group): the provenance tests read the job folders it leaves."""
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig


@dataclass
class TrainConf:
    lr: float = 0.1
    epochs: int = 3


ConfigStore.instance().store(group="trainer", name="default", node=TrainConf)


@hydra.main(version_base="1.3", config_path="conf", config_name="prov")
def main(cfg: DictConfig) -> float:
    return 0.0


if __name__ == "__main__":
    main()
