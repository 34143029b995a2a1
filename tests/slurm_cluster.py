"""A real one-node Slurm cluster on this machine, for tests and for trying the launcher.

munged, slurmctld and slurmd run as child processes in the foreground (-F / -D), with
every file (config, munge key and socket, state, spool, logs) in one directory and ports
picked free, so nothing in /etc is touched and a system Slurm, if any, is not disturbed.
Two fake GPUs (gres.conf entries pointing at /dev/null) let jobs request GPUs: Slurm
schedules them and sets CUDA_VISIBLE_DEVICES as on a real GPU node.

As a pytest fixture: ``slurm_cluster`` (session scope). From a shell (as root):
``python tests/slurm_cluster.py [DIR]`` starts one and prints the SLURM_CONF to export;
Ctrl-C stops it. See docs/slurm-laptop.md.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

DAEMONS = ("munged", "slurmctld", "slurmd")
START_TIMEOUT_S = 60.0
PARTITION = "debug"
FAKE_GPUS = 2


class SlurmStartError(RuntimeError):
    pass


SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def which(name: str) -> Optional[str]:
    """Like shutil.which, also looking in the sbin folders a user's PATH may lack."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=path)


def missing_reason() -> Optional[str]:
    """Why a cluster cannot be started here, or None when it can."""
    missing = [d for d in DAEMONS + ("sbatch", "squeue", "sinfo") if which(d) is None]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} not on PATH): "
                "run `bash .ci/install_slurm.sh` (Debian/Ubuntu, as root)")
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs: run the Slurm tests as root"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_hardware() -> Dict[str, str]:
    """What ``slurmd -C`` sees (CPUs, sockets, cores, threads, RealMemory)."""
    out = subprocess.run([str(which("slurmd")), "-C"], capture_output=True, text=True, timeout=30).stdout
    first = out.splitlines()[0] if out else ""
    return dict(re.findall(r"(\w+)=(\S+)", first))


class SlurmCluster:
    """munged + slurmctld + slurmd for one node, configured under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.hostname = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.log_dir = self.root / "log"
        # A unix socket path must stay under ~108 bytes: keep it short, whatever root is.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="almunge-"))
        self.sock_dir.chmod(0o755)  # munged wants clients to be able to reach its socket
        self.munge_socket = self.sock_dir / "munge.sock"
        self.procs: Dict[str, subprocess.Popen] = {}
        self.cpus = 1

    @property
    def env(self) -> Dict[str, str]:
        """Variables that point Slurm's commands (and so submitit) at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    # -- configuration -----------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("state", "spool", "log", "gpus"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)

        hw = node_hardware()
        self.cpus = int(hw.get("CPUs", os.cpu_count() or 1))
        real_mb = int(hw.get("RealMemory", 2048))
        topo = " ".join(f"{k}={hw[k]}" for k in ("Boards", "SocketsPerBoard", "CoresPerSocket",
                                                  "ThreadsPerCore") if k in hw)
        gpu_files = []
        for i in range(FAKE_GPUS):
            dev = self.root / "gpus" / f"fakegpu{i}"
            if not dev.exists():
                dev.symlink_to("/dev/null")  # gres wants a character device
            gpu_files.append(str(dev))
        node_mem = max(512, int(real_mb * 0.85))
        conf = f"""\
# Written by tests/slurm_cluster.py: a one-node cluster for tests, run as root.
ClusterName=alchemytest
SlurmctldHost={self.hostname}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket={self.munge_socket},cred_expire=5
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={self.log_dir}/slurmctld.log
SlurmdLogFile={self.log_dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
# No cgroups in most containers: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={max(256, node_mem // (4 * self.cpus))}
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
# No slurmdbd: sacct has nothing to read; the launcher asks squeue instead.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Seconds between SIGTERM and SIGKILL for a cancelled job (default 30; submitit's jobs
# ignore SIGTERM).
KillWait=5
MinJobAge=300
GresTypes=gpu
NodeName={self.hostname} NodeAddr=127.0.0.1 CPUs={self.cpus} {topo} RealMemory={node_mem} Gres=gpu:{FAKE_GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.hostname} Default=YES MaxTime=INFINITE State=UP
"""
        self.conf.write_text(conf)
        files = ",".join(gpu_files)
        (self.root / "gres.conf").write_text(
            f"# Fake GPUs: Slurm schedules them and sets CUDA_VISIBLE_DEVICES; no device.\n"
            f"NodeName={self.hostname} Name=gpu File={files}\n"
        )

    # -- processes -----------------------------------------------------------------------
    def _spawn(self, name: str, argv: List[str]) -> None:
        argv = [str(which(argv[0]))] + argv[1:]
        out = open(self.log_dir / f"{name}.out", "ab")
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs[name] = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True, cwd=str(self.root),
        )
        out.close()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "SlurmCluster":
        reason = missing_reason()
        if reason:
            raise SlurmStartError(reason)
        self.write_config()
        try:
            self._spawn("munged", [
                "munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                f"--key-file={self.root / 'munge.key'}", f"--pid-file={self.root / 'munged.pid'}",
                f"--seed-file={self.root / 'munged.seed'}", f"--log-file={self.log_dir / 'munged.log'}",
            ])
            self._wait(lambda: self.munge_socket.exists(), timeout_s, "munged to create its socket")
            self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.hostname])
            self._wait(self.node_idle, timeout_s, f"node {self.hostname} to be idle in sinfo")
        except BaseException:
            self.stop()
            raise
        return self

    def node_idle(self) -> bool:
        proc = self.run(["sinfo", "--noheader", "--format=%T", "--nodes", self.hostname])
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    def run(self, argv: List[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        env = dict(os.environ, **self.env)
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise SlurmStartError(f"{', '.join(dead)} exited while waiting for {what}\n"
                                      + self.logs())
            if ready():
                return
            time.sleep(0.3)
        raise SlurmStartError(f"timed out after {timeout_s:.0f} s waiting for {what}\n" + self.logs())

    def check_alive(self) -> None:
        """Raise with the daemons' logs when one of them has exited since start."""
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead or not self.procs:
            raise SlurmStartError(f"Slurm daemons exited (name: exit code): {dead}\n"
                                  + self.logs())

    def logs(self, tail: int = 60) -> str:
        parts = [f"--- {self.conf} ---\n{self.conf.read_text() if self.conf.exists() else ''}"]
        for path in sorted(self.log_dir.glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path} (last {tail} lines) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def _cancel_jobs(self) -> None:
        ctld = self.procs.get("slurmctld")
        if ctld is None or ctld.poll() is not None or not self.conf.exists():
            return  # (without its conf, a Slurm command hangs looking for one)
        jobs = self.run(["squeue", "--noheader", "--format=%i"], timeout=10).stdout.split()
        if not jobs:
            return
        self.run(["scancel", "--full", *jobs], timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.run(
                ["squeue", "--noheader", "--format=%i", "--states=RUNNING,COMPLETING"], timeout=10
        ).stdout.strip():
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel what is left, then stop the daemons (SIGTERM, then SIGKILL)."""
        try:
            self._cancel_jobs()
        except Exception as e:  # noqa: BLE001 - the daemons must stop whatever happened
            print(f"slurm_cluster: could not cancel jobs before stopping: {e}", file=sys.stderr)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.sock_dir, ignore_errors=True)


def _pytest_fixture():
    import pytest

    @pytest.fixture(scope="session")
    def slurm_cluster(tmp_path_factory) -> Iterator[SlurmCluster]:
        """A running one-node cluster; SLURM_CONF is exported for the whole session.

        Without Slurm installed the tests skip, except in CI (CI=true), where they fail:
        CI installs it with .ci/install_slurm.sh, so its absence there is a bug.
        """
        reason = missing_reason()
        if reason:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true but {reason}", pytrace=False)
            pytest.skip(reason)
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
        atexit.register(cluster.stop)  # also when the session ends without teardown
        try:
            cluster.start()
        except SlurmStartError as e:
            pytest.fail(f"could not start the test Slurm cluster: {e}", pytrace=False)
        saved = os.environ.get("SLURM_CONF")
        os.environ.update(cluster.env)
        try:
            yield cluster
        finally:
            if saved is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = saved
            cluster.stop()

    return slurm_cluster


if "pytest" in sys.modules:
    slurm_cluster = _pytest_fixture()


def main(argv: List[str]) -> int:
    root = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="alchemy-slurm-"))
    cluster = SlurmCluster(root)
    try:
        cluster.start()
    except SlurmStartError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"Slurm is up (node {cluster.hostname}, {cluster.cpus} CPUs, {FAKE_GPUS} fake GPUs).")
    print(f"In another shell:\n  export SLURM_CONF={cluster.conf}\n  sinfo")
    print("Ctrl-C stops it.", flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(1)
        print("a daemon exited:\n" + cluster.logs(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
