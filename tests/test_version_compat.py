"""runtype_provider.version_compat: one import path per symbol for the running Airflow, and version flags that agree
with it (the newest path first, so Airflow 3.3 warns about none of them)."""

from __future__ import annotations

import subprocess
import sys

from airflow import __version__ as airflow_version
from packaging.version import Version

import runtype_provider.version_compat as compat


def test_the_version_flags_follow_the_running_airflow() -> None:
    running = Version(Version(airflow_version).base_version)
    assert compat.AIRFLOW_V_3_2_PLUS is (running >= Version("3.2.0"))
    assert compat.AIRFLOW_V_3_3_PLUS is (running >= Version("3.3.0"))


def test_every_exported_name_is_there_and_the_task_sdk_classes_are_airflows() -> None:
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator

    assert all(hasattr(compat, name) for name in compat.__all__)
    assert (compat.BaseHook, compat.BaseOperator, compat.BaseSensorOperator) == (
        BaseHook,
        BaseOperator,
        BaseSensorOperator,
    )
    assert issubclass(compat.AirflowNotFoundException, compat.AirflowException)


def test_importing_the_shims_raises_no_deprecation_warning_of_ours() -> None:
    """Warnings attributed to our module (a deprecated import path used here) are errors; Airflow's own are not."""
    code = (
        "import warnings, airflow\n"
        "for kind in (DeprecationWarning, FutureWarning):\n"
        "    warnings.filterwarnings('error', category=kind, module='runtype_provider')\n"
        "import runtype_provider.version_compat"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
