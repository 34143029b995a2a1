"""Test app for jobs that must die with their sweep, never run twice at once, and rerun
after a crash; the task is lifeline_tasks.run."""
import hydra
from omegaconf import DictConfig

from lifeline_tasks import run


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg: DictConfig) -> dict:
    return run(cfg)


if __name__ == "__main__":
    main()
