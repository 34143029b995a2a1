"""Config of ``hydra/launcher=alchemy_slurm``: hydra-submitit-launcher's Slurm options
plus ``gpus_per_job``; see slurm_launcher.py.

Every sbatch option submitit does not name goes in ``additional_parameters``
(``hydra.launcher.additional_parameters={nice:10,mail-type:END}``).
"""
from dataclasses import dataclass
from dataclasses import field
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclass
class AlchemySlurmLauncherConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.alchemy_launcher.slurm_launcher.AlchemySlurmLauncher"

    # GPUs for each job (sbatch --gpus=N, whatever the node count); the same name as
    # hydra/launcher=alchemy's. Slurm sets CUDA_VISIBLE_DEVICES in the job. Exclusive
    # with gpus_per_node / gpus_per_task (or gres=gpu:N, the older spelling).
    gpus_per_job: Optional[int] = None

    # As for hydra/launcher=alchemy: run a job that failed by a crash, a signal, a
    # timeout or an exception listed in retry_on (import paths) again, up to this many
    # times, in the same folder after moving its earlier output aside; the frame's
    # `attempts` column counts the runs.
    retries: int = 0
    retry_on: List[str] = field(default_factory=list)

    # Inherited, most used: partition, timeout_min (sbatch --time), mem_gb (--mem),
    # cpus_per_task, gpus_per_node, gres, array_parallelism (most jobs running at once,
    # --array=0-N%P), additional_parameters (any other sbatch option), setup (shell lines
    # run before the job), and max_num_timeout: how many times a job that hits its time
    # limit is requeued (0: never). Preempted jobs are always requeued. A requeued job
    # starts the task again in the same job directory (SLURM_RESTART_COUNT tells it is a
    # restart): resume from your own checkpoint there.


ConfigStore.instance().store(
    group="hydra/launcher",
    name="alchemy_slurm",
    node=AlchemySlurmLauncherConf,
    provider="hydra-alchemy",
)
