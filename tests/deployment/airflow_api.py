"""Airflow's REST API (``/api/v2``) as the tests drive it, with the simple auth manager's password login."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests


class AirflowApi:
    """A small client for ``/api/v2``: logs in as ``admin`` with the generated password (``POST
    /auth/token``, the same on 3.1 and 3.3) and retries once with a fresh token on 401."""

    def __init__(self, base_url: str, password_file: Path, username: str = "admin") -> None:
        self.base_url = base_url
        self.password_file = password_file
        self.username = username
        self.session = requests.Session()

    def login(self) -> None:
        passwords = json.loads(self.password_file.read_text())
        answer = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": passwords[self.username]},
            timeout=10,
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        if "Authorization" not in self.session.headers:
            self.login()
        answer = self.session.request(method, f"{self.base_url}{path}", **kwargs)
        if answer.status_code == 401:
            self.login()
            answer = self.session.request(method, f"{self.base_url}{path}", **kwargs)
        return answer

    def get(self, path: str, **params: Any) -> Any:
        answer = self.request("GET", path, params=params)
        if not answer.ok:
            raise AssertionError(f"GET {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def get_all(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list endpoint (``limit``/``offset``, ``total_entries``)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=100, offset=len(items), **params)
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def health(self) -> dict[str, Any]:
        answer = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def dag_exists(self, dag_id: str) -> bool:
        return self.request("GET", f"/api/v2/dags/{dag_id}").status_code == 200

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/importErrors")["import_errors"])

    def trigger_dag_run(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a DAG run now; its ``dag_run_id``."""
        answer = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        if not answer.ok:
            raise AssertionError(f"trigger {dag_id}: HTTP {answer.status_code} {answer.text[:500]}")
        return str(answer.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones one per map index), with ``state``,
        ``try_number``, ``trigger`` (``triggerer_id``) and ``triggerer_job``."""
        return self.get_all(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return dict(self.get(path if map_index < 0 else f"{path}/{map_index}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom value as JSON."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index)["value"]

    def triggerer_jobs(self, alive: bool = True) -> list[dict[str, Any]]:
        """Triggerer jobs, newest heartbeat first. One page only: ``is_alive`` filters after paging (so
        ``total_entries`` counts dead jobs too), and live jobs have the newest heartbeats."""
        return list(self.get("/api/v2/jobs", job_type="TriggererJob", is_alive=alive, limit=100)["jobs"])

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """Clear one task instance of a DAG run (whatever its state), as the UI's "Clear" does; the answer."""
        answer = self.request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False},
        )
        if not answer.ok:
            raise AssertionError(f"clear {dag_id}/{run_id}/{task_id}: HTTP {answer.status_code} {answer.text[:500]}")
        return dict(answer.json())
