"""Config of ``hydra/launcher=alchemy`` (the local GPU-aware launcher).

AlchemyCat's names, where they differ: ``gpus_per_job`` is ``work_gpu_num``.
"""
from dataclasses import dataclass
from dataclasses import field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class AlchemyLauncherConf:
    _target_: str = "hydra_plugins.alchemy_launcher.local_launcher.AlchemyLauncher"

    # GPUs each job gets, through CUDA_VISIBLE_DEVICES set before its process starts
    # (AlchemyCat: work_gpu_num). auto: one GPU per job where NVML sees GPUs (or `gpus`
    # names some), CPU-only jobs where it sees none (one log line says so). 0: CPU-only
    # sweep, up to n_jobs processes at once. A number the machine cannot give (no NVML,
    # fewer GPUs, an unknown id in `gpus`) stops the sweep before any job starts.
    gpus_per_job: Any = "auto"

    # The pool of GPUs, e.g. [0,1,2,3] or "0,1" (indices as NVML / nvidia-smi number
    # them, or GPU-<uuid>). null: CUDA_VISIBLE_DEVICES if set, else every GPU NVML sees.
    # With gpus_per_job=0, a given list is what every job sees ([] hides all GPUs);
    # null leaves CUDA_VISIBLE_DEVICES as it is.
    gpus: Optional[Any] = None

    # true: wait until a GPU is idle (memory_need, max_process) before giving it out;
    # false: hand GPUs out in pool order without looking. Slots are exclusive either way.
    block: bool = True

    # MB of free memory a GPU must have for a job. -1: nearly all of it (95% of its
    # total, divided among jobs_per_gpu slots).
    memory_need: float = -1

    # Most processes of others (not this sweep's jobs) a GPU may run; -1: any number.
    max_process: int = -1

    # Slots per GPU: pack this many small jobs on one GPU.
    jobs_per_gpu: int = 1

    # Seconds between GPU readings while jobs wait for GPUs (job ends are seen at once).
    poll_interval: float = 1.0

    # Most jobs running at once. null: one per CPU for gpus_per_job=0, unlimited (the
    # GPU slots decide) otherwise; -1: number of CPUs.
    n_jobs: Optional[int] = None

    # Kill a job (its whole process group) after this many minutes; it becomes FAILED.
    timeout_min: Optional[float] = None

    # File in each job's directory that receives the job's stdout and stderr.
    log_name: str = "job.log"

    # Progress bar: null = when stderr is a terminal, else plain log lines.
    progress: Optional[bool] = None

    # How a job's fresh process starts. fork_server: forked from a zygote process that
    # imported Hydra and the task's modules once per launch (no interpreter start-up
    # per job; still one process per job, CUDA never initialised before the fork);
    # falls back to spawn, said once in the log, where fork is unsafe (no os.fork,
    # macOS, the task's modules start threads or CUDA at import). spawn: a fresh
    # interpreter per job (python -m ..._worker).
    start_method: str = "fork_server"

    # Run a job that failed by a crash (a signal, a nonzero exit of its process), a
    # timeout, or an exception listed in retry_on again, up to this many times, in the
    # same folder after moving its earlier output aside (<job dir>/.attempts/<n>/).
    # The frame's `attempts` column counts the runs.
    retries: int = 0

    # Exceptions (import paths, e.g. [torch.cuda.OutOfMemoryError]) that are retried
    # like crashes; subclasses count. Default: none, so a bug in the task is not retried.
    retry_on: List[str] = field(default_factory=list)


ConfigStore.instance().store(
    group="hydra/launcher",
    name="alchemy",
    node=AlchemyLauncherConf,
    provider="hydra-alchemy",
)
