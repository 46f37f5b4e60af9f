"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``); imports nothing heavy (the options
table is standard library only)."""

from __future__ import annotations

from typing import Any

from runtype_provider.client.options import OPTIONS

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
    name: {"label": option.label, "description": option.description, "schema": option.schema()}
    for name, option in OPTIONS.items()
}
"""The extra fields of the form, one per connection option (generated from the table the reader checks with)."""


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """The form's behaviour as Airflow < 3.2 reads it from the hook (same labels and placeholders)."""
    keys = {"hidden_fields": "hidden-fields", "relabeling": "relabeling", "placeholders": "placeholders"}
    return {legacy: UI_FIELD_BEHAVIOUR[key] for legacy, key in keys.items()}


def legacy_form_widgets() -> dict[str, Any]:
    """The extra fields as Airflow < 3.2 builds them (WTForms widgets, same labels and defaults)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, StringField

    widgets: dict[str, Any] = {}
    for name, option in OPTIONS.items():
        label = lazy_gettext(option.label)
        if option.kind == "boolean":
            widgets[name] = BooleanField(label, description=option.description, default=option.default)
        else:
            widgets[name] = StringField(
                label, widget=BS3TextFieldWidget(), description=option.description, default=option.default_str()
            )
    return widgets


CONFIG: dict[str, Any] = {
    "runtype": {
        "description": "The Runtype provider's deployment settings.",
        "options": {
            "results_path": {
                "description": "Where the results operator writes per-record results that do not fit in XCom (more "
                "than max_xcom_rows) when the task gives no output_path: a location every worker can read, as "
                "an ObjectStoragePath URL (s3://, gs://, file:// on a shared mount). Empty: [common.io] "
                "xcom_objectstorage_path/runtype_results when that is set, else AIRFLOW_HOME/runtype_results "
                "on a single-host executor (LocalExecutor); on a multi-host executor the task then fails "
                "saying what to set.\n",
                "version_added": "0.1.0",
                "type": "string",
                "example": "s3://aws_default@bucket/runtype_results",
                "default": "",
            },
        },
    },
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
                "python-modules": [
                    "runtype_provider.operators.runtype",
                    "runtype_provider.operators.schedules",
                    "runtype_provider.operators.batches",
                    "runtype_provider.operators.failed_records",
                ],
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
        "config": CONFIG,
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
