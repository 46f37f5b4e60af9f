"""Airflow version shims: one import path per symbol, newest first, so no deprecation warnings on 3.3."""

from __future__ import annotations

from airflow import __version__ as _airflow_version
from packaging.version import Version

_AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= _AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= _AIRFLOW_VERSION

from airflow.sdk import (  # noqa: E402  (3.1+)
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Context,
)

try:  # 3.2+
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

try:  # 3.2+
    from airflow.sdk import conf
except ImportError:  # 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment,unused-ignore]

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "conf",
]
