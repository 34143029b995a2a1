"""Prints its resolved config as JSON: the tests read it back."""
import json
import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    line = json.dumps(resolved, sort_keys=True)
    # One write(2): parallel jobs (joblib) share this stdout; lines must not interleave.
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), ("RESOLVED " + line + "\n").encode())
    out = os.environ.get("DEP_APP_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 0.0


if __name__ == "__main__":
    main()
