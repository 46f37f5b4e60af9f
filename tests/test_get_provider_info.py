"""Provider registration: what Airflow reads from the entry point, and that it matches the hook.

The operator, sensor and trigger modules named in the provider info are deliberately not imported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import types
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from packaging.utils import canonicalize_name

import runtype_provider
from runtype_provider.client.concurrent_paging import DEFAULT_MAX_CONCURRENT_PAGES, MAX_CONCURRENT_PAGES
from runtype_provider.client.limits import DEFAULT_MAX_RESPONSE_MB
from runtype_provider.client.options import OPTIONS
from runtype_provider.client.retry import DEFAULT_RETRY_DELAY, DEFAULT_RETRY_LIMIT, DEFAULT_RETRY_MAX_DELAY
from runtype_provider.client.settings import DEFAULT_TIMEOUT, MAX_RESPONSE_MB, MAX_RETRY_LIMIT, MIN_RESPONSE_MB
from runtype_provider.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info, legacy_form_widgets
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.version_compat import AIRFLOW_V_3_2_PLUS

AIRFLOW_DIR = Path(airflow.__file__).parent


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((AIRFLOW_DIR / name).read_text())


def validate(instance: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.validators.validator_for(schema)
    validator(schema).validate(instance)


@pytest.fixture(scope="module")
def provider_entry_point() -> Any:
    found = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("runtype_provider.")]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def connection_type() -> dict[str, Any]:
    items = get_provider_info()["connection-types"]
    assert [item["connection-type"] for item in items] == ["runtype"]
    return items[0]


# ---- what Airflow's provider discovery checks ----------------------------------------------------------------


def test_provider_info_validates_against_airflow_runtime_schema():
    validate(get_provider_info(), load_schema("provider_info.schema.json"))


def test_connection_types_validate_against_the_connection_form_schema(connection_type):
    schema = load_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    validate([connection_type], schema)


def test_package_name_is_the_distribution_name(provider_entry_point):
    assert get_provider_info()["package-name"] == canonicalize_name(provider_entry_point.dist.metadata["Name"])
    assert get_provider_info()["package-name"] == "airflow-provider-runtype"


def test_entry_point_resolves_to_get_provider_info(provider_entry_point):
    assert provider_entry_point.name == "provider_info"
    assert provider_entry_point.load() is get_provider_info


def test_package_version_matches_the_distribution():
    assert runtype_provider.__version__ == version("airflow-provider-runtype")


def test_reading_provider_info_imports_neither_airflow_nor_the_hook():
    """Only the options table comes along (standard library only)."""
    code = (
        "import sys; from runtype_provider.get_provider_info import get_provider_info; get_provider_info(); "
        "print(sorted(m for m in sys.modules if m.startswith(('airflow', 'runtype_provider.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    expected = ["runtype_provider.client", "runtype_provider.client.options", "runtype_provider.get_provider_info"]
    assert out.stdout.strip() == repr(expected)


def test_listed_modules_exist_without_importing_them():
    info = get_provider_info()
    modules = [
        m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]
    ]
    modules += [link.rsplit(".", 1)[0] for link in info["extra-links"]]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    assert missing == []


# ---- the connection type and its hook ---------------------------------------------------------------------------


def test_connection_type_maps_to_the_hook_class(connection_type):
    module_name, class_name = connection_type["hook-class-name"].rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name) is RuntypeHook


def test_hook_class_attributes_match_the_connection_type(connection_type):
    assert RuntypeHook.conn_type == connection_type["connection-type"]
    assert RuntypeHook.hook_name == connection_type["hook-name"] == "Runtype"
    assert RuntypeHook.default_conn_name == "runtype_default"
    assert RuntypeHook.conn_name_attr == "runtype_conn_id"
    assert RuntypeHook().runtype_conn_id == RuntypeHook.default_conn_name


def test_hook_is_testable_from_the_ui():
    assert callable(getattr(RuntypeHook, "test_connection", None))


def test_form_hides_unused_fields_and_labels_the_key(connection_type):
    behaviour = connection_type["ui-field-behaviour"]
    # Port stays visible: Airflow 3.3.2's Test button needs a stored port (see get_provider_info).
    assert sorted(behaviour["hidden-fields"]) == ["login", "schema"]
    assert behaviour["placeholders"]["port"] == "optional, e.g. 443"
    assert behaviour["relabeling"]["password"] == "API Key"
    assert behaviour["placeholders"]["host"] == "https://api.runtype.com"


def test_conn_fields_are_exactly_the_extras_the_hook_documents(connection_type):
    assert list(connection_type["conn-fields"]) == [
        "timeout",
        "retry_limit",
        "retry_delay",
        "retry_max_delay",
        "max_response_mb",
        "max_concurrent_pages",
        "dashboard_url",
        "shared_run_list_polls",
    ]


def test_conn_fields_are_the_options_table(connection_type):
    assert connection_type["conn-fields"] == CONN_FIELDS
    for name, option in OPTIONS.items():
        field = CONN_FIELDS[name]
        assert (field["label"], field["description"]) == (option.label, option.description)
        assert field["schema"] == option.schema()
        assert field["schema"].get("minimum") == option.minimum
        assert field["schema"].get("maximum") == option.maximum
        assert field["schema"].get("default") == option.default


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("timeout", "0.001 or more, default 30."),
        ("retry_limit", "0 to 20, default 3."),
        ("retry_delay", "0 or more, default 1."),
        ("retry_max_delay", "0 or more, default 60."),
        ("max_response_mb", "0.001 to 4096, default 64."),
        ("max_concurrent_pages", "1 to 32, default 16."),
        ("dashboard_url", "Default https://app.runtype.com for the API at api.runtype.com, else the API base URL."),
        ("shared_run_list_polls", "True or false, default false."),
    ],
)
def test_descriptions_end_with_the_range_and_default(connection_type, field, text):
    assert connection_type["conn-fields"][field]["description"].endswith(text)


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("timeout", 12, lambda s: s.timeout),
        ("retry_limit", 7, lambda s: s.retry.retry_limit),
        ("retry_delay", 0.25, lambda s: s.retry.retry_delay),
        ("retry_max_delay", 7.5, lambda s: s.retry.retry_max_delay),
        ("max_response_mb", 3, lambda s: s.max_response_bytes / 2**20),
        ("max_concurrent_pages", 4, lambda s: s.max_concurrent_pages),
        ("dashboard_url", "https://dash.example.com", lambda s: s.dashboard_url),
        ("shared_run_list_polls", True, lambda s: s.shared_run_list_polls),
    ],
)
def test_every_conn_field_is_read_by_the_hook(monkeypatch, connection_type, field, value, read):
    assert field in connection_type["conn-fields"]
    conn = {"conn_type": "runtype", "host": "https://api.runtype.com", "password": "rt_test_k", "extra": {field: value}}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    assert read(RuntypeHook().settings) == value


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("timeout", DEFAULT_TIMEOUT),
        ("retry_limit", DEFAULT_RETRY_LIMIT),
        ("retry_delay", DEFAULT_RETRY_DELAY),
        ("retry_max_delay", DEFAULT_RETRY_MAX_DELAY),
        ("max_response_mb", DEFAULT_MAX_RESPONSE_MB),
        ("max_concurrent_pages", DEFAULT_MAX_CONCURRENT_PAGES),
        ("shared_run_list_polls", False),
    ],
)
def test_conn_field_defaults_match_the_hook_defaults(connection_type, field, default):
    assert connection_type["conn-fields"][field]["schema"]["default"] == default


def test_conn_field_defaults_satisfy_their_own_schema(connection_type):
    for name, spec in connection_type["conn-fields"].items():
        if "default" in spec["schema"]:
            validate(spec["schema"]["default"], spec["schema"])
        else:
            assert "null" in spec["schema"]["type"], name


# ---- legacy form methods: only where Airflow still reads them (< 3.2) ---------------------------------------------


def test_legacy_ui_field_behaviour_only_before_airflow_3_2():
    if AIRFLOW_V_3_2_PLUS:
        assert "get_ui_field_behaviour" not in vars(RuntypeHook)
    else:
        behaviour = RuntypeHook.get_ui_field_behaviour()
        validate(behaviour, load_schema("customized_form_field_behaviours.schema.json"))
        assert behaviour == {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }


def mock_wtforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace WTForms and flask-appbuilder as Airflow 3.1 does when it calls the legacy form methods."""
    fieldwidgets = types.ModuleType("flask_appbuilder.fieldwidgets")
    fieldwidgets.BS3TextFieldWidget = lambda: "text-widget"  # type: ignore[attr-defined]
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = lambda text: text  # type: ignore[attr-defined]
    wtforms = types.ModuleType("wtforms")
    wtforms.StringField = lambda label, widget, description, default: (  # type: ignore[attr-defined]
        "string",
        label,
        widget,
        description,
        default,
    )
    wtforms.BooleanField = lambda label, description, default: ("boolean", label, None, description, default)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flask_appbuilder", types.ModuleType("flask_appbuilder"))
    monkeypatch.setitem(sys.modules, "flask_appbuilder.fieldwidgets", fieldwidgets)
    monkeypatch.setitem(sys.modules, "flask_babel", babel)
    monkeypatch.setitem(sys.modules, "wtforms", wtforms)


LEGACY_DEFAULTS = {
    "timeout": "30",
    "retry_limit": "3",
    "retry_delay": "1",
    "retry_max_delay": "60",
    "max_response_mb": "64",
    "max_concurrent_pages": "16",
    "dashboard_url": None,
    "shared_run_list_polls": False,
}


def test_legacy_form_widgets_are_the_options_table(monkeypatch):
    mock_wtforms(monkeypatch)
    kinds = {name: "boolean" if name == "shared_run_list_polls" else "string" for name in OPTIONS}
    widgets = {name: ("text-widget" if kinds[name] == "string" else None) for name in OPTIONS}
    assert legacy_form_widgets() == {
        name: (kinds[name], spec["label"], widgets[name], spec["description"], LEGACY_DEFAULTS[name])
        for name, spec in CONN_FIELDS.items()
    }


def test_legacy_connection_form_widgets_only_before_airflow_3_2(monkeypatch):
    if AIRFLOW_V_3_2_PLUS:
        assert "get_connection_form_widgets" not in vars(RuntypeHook)
    else:
        mock_wtforms(monkeypatch)
        assert RuntypeHook.get_connection_form_widgets() == legacy_form_widgets()


@pytest.mark.parametrize(
    ("field", "bound", "value"),
    [
        ("retry_limit", "maximum", MAX_RETRY_LIMIT),
        ("max_response_mb", "minimum", MIN_RESPONSE_MB),
        ("max_response_mb", "maximum", MAX_RESPONSE_MB),
        ("max_concurrent_pages", "maximum", MAX_CONCURRENT_PAGES),
    ],
)
def test_the_form_and_the_constants_other_modules_import_share_bounds(connection_type, field, bound, value):
    assert connection_type["conn-fields"][field]["schema"][bound] == value
