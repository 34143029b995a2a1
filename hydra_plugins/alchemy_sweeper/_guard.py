"""``RequireMultirunCallback``: a config with ``Param2Tune`` entries needs a sweep.

The config source adds it to ``hydra.callbacks`` of configs with Param2Tunes (its
import path is ``alchemy_resolvers.lowering.config_dir.REQUIRE_MULTIRUN_CALLBACK``).
"""
from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.alchemy_sweeper._axes import find_param_tokens

__all__ = ["RequireMultirunCallback"]


def _hydra_callback_base() -> type:
    try:
        from hydra.experimental.callback import Callback

        return Callback
    except ImportError:  # pragma: no cover - hydra < 1.1
        return object


class RequireMultirunCallback(_hydra_callback_base()):  # type: ignore[misc]
    """Fails a single run (no ``-m``) of a config that holds ``Param2Tune`` entries.

    So the error comes at start even when the task never reads a tuned entry. Hydra
    turns an exception raised by a callback into a warning and runs the task anyway, so
    this exits the way a command-line tool refuses bad arguments.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        keys = [k for k, _ in find_param_tokens(config)]
        if keys:
            name = OmegaConf.select(config, "hydra.job.config_name", default=None)
            raise SystemExit(
                f"Error: config `{name}` tunes {', '.join(f'`{k}`' for k in keys)} with "
                "Param2Tune, which needs a sweep: add `-m hydra/sweeper=alchemy` to the "
                "command line (or set one value, e.g. `" + keys[0] + "=...`)"
            )
