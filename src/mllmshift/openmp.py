r"""OpenMP's wait policy for a ``mllmshift`` process: idle worker threads sleep instead of spinning.

torch computes with an OpenMP thread pool (``torch.__config__.parallel_info()``: "ATen parallel backend:
OpenMP"). By default (``OMP_WAIT_POLICY`` unset) a worker that finishes its share of a parallel region
spins, waiting for the next one, before it sleeps. A fit of small networks (the default CLUB networks on
90–1,000 pairs) alternates short parallel kernels with Python between them, so with 2 threads the second
one spins through all of that Python: on a busy machine a spinning thread takes a core from the thread that
has the work. (On an idle machine spinning costs little CPU and saves wake-ups: there the passive policy is
slower in wall time for the same CPU — docs/benchmarks.md, the default path's idle rows.) Measured (``3 × crossfit(smile)``, 3 folds, on 180
pairs of the ``mllmshift emi`` shape, 2 threads, beside other work at load average ~13.5 on 2 cores):

====================================  ============  ========
``OMP_WAIT_POLICY``                     fit CPU (s)  wall (s)
====================================  ============  ========
unset (spin, then sleep)                      68.4     150.1
``GOMP_SPINCOUNT=10000`` (shorter spin)       49.4     113.4
``PASSIVE`` (sleep at once)                    6.0      12.4
====================================  ============  ========

with the same estimates. So :func:`passive_waits` sets ``OMP_WAIT_POLICY=PASSIVE`` for the process, as
``mllmshift``'s entry point does before any verb imports torch. The policy is read once, when the OpenMP
runtime loads (with torch), so it is set only while torch is not loaded yet, and never over a policy the
user set (``OMP_WAIT_POLICY=ACTIVE mllmshift ...`` keeps spinning; ``OMP_WAIT_POLICY=default`` is refused by
GNU libgomp with a warning, which then keeps its own default: the behaviour before, for an A/B). It changes no
computed value.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

#: the variable the OpenMP runtimes read (GNU libgomp, LLVM libomp, Intel's)
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"


def passive_waits(environ: MutableMapping[str, str], modules: Mapping[str, Any] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (the process's ``os.environ``) when no policy is set
    and torch is not among ``modules`` (default ``sys.modules``) yet; returns whether it set it."""
    loaded = sys.modules if modules is None else modules
    if WAIT_POLICY_VAR in environ or "torch" in loaded:
        return False
    environ[WAIT_POLICY_VAR] = "PASSIVE"
    return True
