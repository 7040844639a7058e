r"""How many CPU threads to compute with: chosen from the CPUs this process may use and the load beside it.

Threads that outnumber the cores they can actually get wait on each other: on a 2-core machine with
four CPU-bound processes beside it, ``mllmshift emi`` ran 3× slower with 2 threads than with one, on
top of the CPU share it lost. So a run asks :func:`choose_threads` and runs inside :func:`thread_limits`;
an automatic choice is then re-read as the load changes during the run (:mod:`mllmshift.follow_load`).

**Usable CPUs** ``c`` = min(|sched_getaffinity(0)|, ⌈cgroup quota / period⌉) (the cgroup v2
``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` of this process, where readable and
limited); ``os.cpu_count()`` where affinity is not available.

**Load** ``L`` = the fewest runnable threads of other processes seen in three reads of ``/proc/loadavg``
10 ms apart (its 4th field, less this process's own runnable threads, from ``/proc/self/task/*/stat``:
during a run its compute threads may still be running or spinning); the 1-minute load average only where
that file cannot be read (not Linux).
A CPU-bound process is runnable at every read, and taking the fewest of three ignores a passing spike.
The load average lags by about a minute both ways: it misses processes that have just started, and it
still counts work that has just ended — after ``mllmshift emi`` it read 0.56 on an otherwise idle 2-core
machine, so the study that followed was given 1 thread and took 61.5 s instead of about 50 s
(``benchmarks/default_path.py``). Both count the whole machine (``N = os.cpu_count()`` CPUs), so the share
expected on our CPUs is ``L · c / N``.

**Choice** (first that applies):

1. an explicit request (argument, e.g. ``--threads``): that many threads, at most ``c``;
2. inside a :func:`thread_limits` block: the block's count (a run chooses once; an encoder or a
   responder built inside it without a count of its own follows the run);
3. ``$MLLMSHIFT_THREADS``, else ``$OMP_NUM_THREADS``: that many threads, at most ``c``;
4. otherwise the idle capacity of our CPUs, rounded down (never more threads than cores free now):

   .. math:: t = \min\bigl(c,\ \max\bigl(1,\ \lfloor c\,(1 - L/N) + 10^{-9} \rfloor\bigr)\bigr)

   so an idle 2-core machine gets 2 threads and the same machine with anything else running gets 1.

Thread counts do not change what is computed (up to float reduction order), so they are reported
with a run (the run's choice, and per stage what :meth:`mllmshift.follow_load.FollowLoad.record` says)
but are not part of any cache key.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mllmshift.errors import MllmshiftError

#: environment variable that fixes the thread count (below an explicit argument, above ``OMP_NUM_THREADS``)
ENV_VAR = "MLLMSHIFT_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_LOADAVG = Path("/proc/loadavg")
PROC_SELF_TASKS = Path("/proc/self/task")

Source = Literal["argument", "enclosing", "MLLMSHIFT_THREADS", "OMP_NUM_THREADS", "auto"]
#: the thread count of the innermost active :func:`thread_limits` block (scoped like decimal's context)
_ENCLOSING: ContextVar[int | None] = ContextVar("mllmshift_thread_limits", default=None)


@dataclass(frozen=True)
class CPUs:
    """The CPUs this process may use.

    ``affinity``: CPUs in its affinity mask; ``quota``: its cgroup CPU quota in CPUs (None when unlimited
    or unreadable); ``online``: CPUs of the whole machine (what the load average is spread over).
    """

    affinity: int
    quota: float | None
    online: int

    @property
    def usable(self) -> int:
        """min(affinity, ⌈quota⌉), at least 1."""
        n = self.affinity if self.quota is None else min(self.affinity, math.ceil(self.quota - 1e-9))
        return max(1, n)


def read_cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """This process's CPU quota in CPUs from the cgroup filesystem under ``root``; None if unlimited/unreadable.

    cgroup v2: ``cpu.max`` = ``"<quota> <period>"`` or ``"max <period>"``; v1: ``cpu/cpu.cfs_quota_us``
    (−1 = unlimited) and ``cpu/cpu.cfs_period_us``.
    """
    try:
        text = (root / "cpu.max").read_text().split()
        if len(text) == 2 and text[0] != "max":
            quota, period = float(text[0]), float(text[1])
            return quota / period if quota > 0 and period > 0 else None
        if text:
            return None
    except (OSError, ValueError):
        pass
    try:
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def detect_cpus(cgroup_root: Path = CGROUP_ROOT) -> CPUs:
    """The CPUs of this process (see :class:`CPUs`)."""
    online = os.cpu_count() or 1
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        affinity = online
    return CPUs(affinity=affinity, quota=read_cgroup_quota(cgroup_root), online=online)


def own_runnable_threads(tasks: Path = PROC_SELF_TASKS) -> int:
    """This process's threads in state R (running or runnable), at least 1 (the reading thread); 1 where
    ``/proc/self/task`` cannot be read."""
    n = 0
    try:
        for task in tasks.iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue  # the thread has just ended
            n += stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R"
    except OSError:
        return 1
    return max(1, n)


def _runnable_others(path: Path, tasks: Path | None = PROC_SELF_TASKS) -> int | None:
    """Runnable threads of other processes: the 4th field of ``/proc/loadavg`` (``"3/712"``) less this
    process's runnable threads (``tasks`` None: less the reading thread only)."""
    try:
        running = int(path.read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - (1 if tasks is None else own_runnable_threads(tasks)))


def system_load(proc_loadavg: Path = PROC_LOADAVG, reads: int = 3, interval_s: float = 0.01,
                tasks: Path | None = PROC_SELF_TASKS) -> float:
    """The load beside this process: the fewest runnable threads of others over ``reads`` reads of
    ``proc_loadavg`` (less this process's own runnable ``tasks``); the 1-minute load average where it cannot
    be read."""
    seen = []
    for i in range(reads):
        n = _runnable_others(proc_loadavg, tasks)
        if n is None:
            break
        seen.append(n)
        if i + 1 < reads:
            time.sleep(interval_s)
    if seen:
        return float(min(seen))
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why: ``source`` is where it came from, ``requested`` the asked-for count (if any)."""

    threads: int
    usable_cpus: int
    load: float | None
    source: Source
    requested: int | None = None

    def describe(self) -> str:
        """One line for a log, e.g. ``1 thread (auto: 2 usable CPUs, load 4.1)``."""
        s = f"{self.threads} thread{'s' if self.threads != 1 else ''} ("
        if self.source == "auto":
            s += f"auto: {self.usable_cpus} usable CPU{'s' if self.usable_cpus != 1 else ''}, load {self.load:.1f}"
        else:
            s += f"{self.source} = {self.requested}"
            if self.requested != self.threads:
                s += f", capped at {self.usable_cpus} usable CPUs"
        return s + f"; set with --threads or ${ENV_VAR})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _positive_int(value: str, name: str) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise MllmshiftError(f"${name} must be a positive integer (a thread count), got {value!r}")
    return n


def auto_choice(cpus: CPUs, load: float) -> ThreadChoice:
    """Rule 4 of the module docstring: the free capacity of our CPUs at ``load``, rounded down, at least 1."""
    usable = cpus.usable
    free = usable * (1.0 - load / max(cpus.online, 1))
    return ThreadChoice(min(usable, max(1, math.floor(free + 1e-9))), usable, load, "auto")


def choose_threads(requested: int | None = None, *, cpus: CPUs | None = None, load: float | None = None,
                   environ: Mapping[str, str] | None = None) -> ThreadChoice:
    """The thread count to compute with (see the module docstring for the rule).

    Args:
        requested: an explicit count (e.g. from ``--threads``); None to look at the environment, then decide.
        cpus, load, environ: injected facts (tests); by default :func:`detect_cpus`, :func:`system_load`
            (read only when the choice is automatic) and ``os.environ``.
    """
    cpus = cpus or detect_cpus()
    env = os.environ if environ is None else environ
    usable = cpus.usable
    source: Source
    if requested is not None:
        if int(requested) < 1:
            raise MllmshiftError(f"the thread count must be at least 1, got {requested}")
        source, asked = "argument", int(requested)
    elif _ENCLOSING.get() is not None:
        source, asked = "enclosing", int(_ENCLOSING.get())  # type: ignore[arg-type]
    elif env.get(ENV_VAR, "").strip():
        source, asked = "MLLMSHIFT_THREADS", _positive_int(env[ENV_VAR], ENV_VAR)
    elif env.get("OMP_NUM_THREADS", "").strip():
        source, asked = "OMP_NUM_THREADS", _positive_int(env["OMP_NUM_THREADS"].split(",")[0], "OMP_NUM_THREADS")
    else:
        return auto_choice(cpus, system_load() if load is None else float(load))
    return ThreadChoice(min(asked, usable), usable, load, source, asked)


def enclosing_threads() -> int | None:
    """The thread count of the innermost active :func:`thread_limits` block; None outside one."""
    return _ENCLOSING.get()


@contextmanager
def thread_limits(threads: int | ThreadChoice) -> Iterator[int]:
    """Run the block with ``threads`` torch intra-op, BLAS and OpenMP threads; restores the previous limits.

    Sets ``torch.set_num_threads`` and, through ``threadpoolctl``, every loaded BLAS and OpenMP library
    (numpy's OpenBLAS, the OpenMP runtimes of compiled encoders). Libraries loaded inside the block are
    not limited by it; encoders that load their own runtime apply their ``threads`` themselves. Inside
    the block, :func:`choose_threads` without an explicit request answers the block's count.
    """
    import torch

    from mllmshift.native_threads import library_limits

    n = threads.threads if isinstance(threads, ThreadChoice) else int(threads)
    if n < 1:
        raise MllmshiftError(f"the thread count must be at least 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    token = _ENCLOSING.set(n)
    try:
        with library_limits(n):
            yield n
    finally:
        _ENCLOSING.reset(token)
        torch.set_num_threads(before)
