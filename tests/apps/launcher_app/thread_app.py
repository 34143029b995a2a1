"""Test app whose module starts a thread at import (thread_at_import): the launcher must
not fork jobs from a zygote that imported it, and start them the plain way."""
import hydra
from omegaconf import DictConfig

import thread_at_import  # noqa: F401 - the thread is the point
from app_records import now, record


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg: DictConfig) -> int:
    record(cfg.out, cfg.job, t0=now(), t1=now())
    return 0


if __name__ == "__main__":
    main()
