"""The OpenMP wait policy a mllmshift process sets for itself (mllmshift.openmp)."""

from __future__ import annotations

import os
import subprocess
import sys

from mllmshift.openmp import WAIT_POLICY_VAR, passive_waits


def test_sets_passive_only_before_torch_and_never_over_a_users_policy() -> None:
    env: dict[str, str] = {}
    assert passive_waits(env, modules={}) and env == {WAIT_POLICY_VAR: "PASSIVE"}
    env = {WAIT_POLICY_VAR: "ACTIVE"}
    assert not passive_waits(env, modules={}) and env[WAIT_POLICY_VAR] == "ACTIVE"
    env = {}
    assert not passive_waits(env, modules={"torch": object()}) and env == {}  # too late: the runtime has loaded


def test_the_cli_sets_it_before_a_verb_loads_torch() -> None:
    """A fresh process running the CLI has the policy in its environment when torch is imported."""
    code = ("import os, sys\nfrom mllmshift.cli.main import main\nmain(['estimators'])\n"
            "import torch\nprint(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_VAR}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE"
