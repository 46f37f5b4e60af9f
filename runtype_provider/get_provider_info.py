"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``); imports nothing heavy."""

from __future__ import annotations

from typing import Any

# Port stays visible (optional): Airflow 3.3.2's Test button sends port 0 for a connection stored without a
# port and its API then refuses the test with HTTP 400 (fixed upstream by apache/airflow#73298). Filling
# Port (443 for api.runtype.com) makes Test work there; the hook adds it to a base URL that has no port.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login"],
    "relabeling": {"host": "API base URL", "password": "API Key"},
    "placeholders": {
        "host": "https://api.runtype.com",
        "port": "optional, e.g. 443",
        "password": "rt_live_… or rt_test_…",
        "description": "Runtype workspace used by these DAGs",
    },
}

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Most seconds one attempt of a Runtype API request may take: connecting and the whole "
        "answer. Default 30.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
    },
    "retry_limit": {
        "label": "Retry limit",
        "description": "Retries after a connection error, timeout, 5xx or 429 (run-now is never retried "
        "into a second run). 0 to 20, default 3.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20, "default": 3},
    },
    "retry_delay": {
        "label": "First retry delay (seconds)",
        "description": "Backoff before the first retry; doubles each retry, with jitter. Default 1.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 1},
    },
    "max_response_mb": {
        "label": "Maximum response size (MiB)",
        "description": "Largest answer accepted from the API, counted after decompression; a larger one fails "
        "the request. Default 64.",
        "schema": {"type": ["number", "null"], "minimum": 1, "maximum": 4096, "default": 64},
    },
    "max_concurrent_pages": {
        "label": "Concurrent result pages",
        "description": "Pages of per-record results fetched at the same time (fewer when the API answers 429). "
        "1 to 32, default 8; 1 fetches them one by one.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 32, "default": 8},
    },
    "dashboard_url": {
        "label": "Dashboard URL",
        "description": "Base URL (http:// or https://) of the Runtype dashboard, for the 'Runtype run' link. "
        "Default https://app.runtype.com.",
        "schema": {"type": ["string", "null"], "format": "url"},
    },
}


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """The form's behaviour as Airflow < 3.2 reads it from the hook (same labels and placeholders)."""
    keys = {"hidden_fields": "hidden-fields", "relabeling": "relabeling", "placeholders": "placeholders"}
    return {legacy: UI_FIELD_BEHAVIOUR[key] for legacy, key in keys.items()}


def legacy_form_widgets() -> dict[str, Any]:
    """The extra fields as Airflow < 3.2 builds them (WTForms widgets, same labels and defaults)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField

    return {
        name: StringField(
            lazy_gettext(spec["label"]),
            widget=BS3TextFieldWidget(),
            description=spec["description"],
            default=None if spec["schema"].get("default") is None else str(spec["schema"]["default"]),
        )
        for name, spec in CONN_FIELDS.items()
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-runtype",
        "name": "Runtype",
        "description": "Run Runtype schedules from Airflow, wait for their runs, collect per-record results "
        "and manage schedules. https://runtype.com",
        "integrations": [
            {
                "integration-name": "Runtype",
                "external-doc-url": "https://docs.runtype.com",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Runtype", "python-modules": ["runtype_provider.hooks.runtype"]}],
        "operators": [
            {
                "integration-name": "Runtype",
                "python-modules": ["runtype_provider.operators.runtype", "runtype_provider.operators.schedules"],
            }
        ],
        "sensors": [{"integration-name": "Runtype", "python-modules": ["runtype_provider.sensors.runtype"]}],
        "triggers": [
            {
                "integration-name": "Runtype",
                "python-modules": ["runtype_provider.triggers.runtype", "runtype_provider.triggers.events"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "runtype",
                "hook-class-name": "runtype_provider.hooks.runtype.RuntypeHook",
                "hook-name": "Runtype",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "extra-links": ["runtype_provider.links.RuntypeRunLink"],
        "asset-uris": [
            {
                "schemes": ["runtype"],
                "handler": "runtype_provider.assets.sanitize_uri",
                "factory": "runtype_provider.assets.create_asset",
                "to_openlineage_converter": "runtype_provider.assets.to_openlineage_dataset",
            }
        ],
    }
