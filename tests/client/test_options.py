"""runtype_provider.client.options: the one table of connection options, its checks, texts and form schemas."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile

import hypothesis.configuration
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtype_provider.client import concurrent_paging, limits, retry
from runtype_provider.client.options import OPTIONS, Option, OptionError, number_text

hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

NUMERIC = {name: option for name, option in OPTIONS.items() if option.kind in ("number", "integer")}


def test_the_table_holds_every_connection_extra_once_under_its_own_name():
    assert list(OPTIONS) == [
        "timeout",
        "retry_limit",
        "retry_delay",
        "retry_max_delay",
        "max_response_mb",
        "max_concurrent_pages",
        "dashboard_url",
        "shared_run_list_polls",
    ]
    assert all(name == option.name and option.label and option.summary for name, option in OPTIONS.items())


def test_the_chosen_bounds():
    """One range per option; timeout and max_response_mb keep the reader's 0.001 (the form used to say 1)."""
    bounds = {name: (option.kind, option.minimum, option.maximum) for name, option in OPTIONS.items()}
    assert bounds == {
        "timeout": ("number", 0.001, None),
        "retry_limit": ("integer", 0, 20),
        "retry_delay": ("number", 0, None),
        "retry_max_delay": ("number", 0, None),
        "max_response_mb": ("number", 0.001, 4096),
        "max_concurrent_pages": ("integer", 1, 32),
        "dashboard_url": ("url", None, None),
        "shared_run_list_polls": ("boolean", None, None),
    }


def test_defaults_are_those_of_the_modules_that_use_them():
    assert OPTIONS["retry_limit"].default == retry.DEFAULT_RETRY_LIMIT
    assert OPTIONS["retry_delay"].default == retry.DEFAULT_RETRY_DELAY
    assert OPTIONS["retry_max_delay"].default == retry.DEFAULT_RETRY_MAX_DELAY
    assert OPTIONS["max_response_mb"].default == limits.DEFAULT_MAX_RESPONSE_MB
    assert OPTIONS["max_concurrent_pages"].default == concurrent_paging.DEFAULT_MAX_CONCURRENT_PAGES == 16
    assert OPTIONS["max_concurrent_pages"].maximum == concurrent_paging.MAX_CONCURRENT_PAGES == 32
    assert (OPTIONS["timeout"].default, OPTIONS["shared_run_list_polls"].default) == (30.0, False)


@pytest.mark.parametrize("name", [name for name, option in OPTIONS.items() if option.default is not None])
def test_every_default_passes_its_own_check(name):
    option = OPTIONS[name]
    assert option.check(option.default) == option.default
    assert option.check(option.default, strict=True) == option.default


def test_an_option_without_a_default_says_how_it_is_worked_out():
    dashboard = OPTIONS["dashboard_url"]
    assert dashboard.default is None and "default" not in dashboard.schema()
    assert dashboard.description.endswith(
        "Default https://app.runtype.com for the API at api.runtype.com, else the API base URL."
    )


# ---- check: what each kind accepts, and the message naming the option and its range ------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("timeout", "12.5", 12.5),
        ("timeout", " 7 ", 7.0),
        ("timeout", 0.001, 0.001),
        ("retry_limit", "2", 2),
        ("retry_limit", 20.0, 20),
        ("retry_limit", "3.0", 3),
        ("max_response_mb", "4096", 4096.0),
        ("max_concurrent_pages", 1, 1),
        ("shared_run_list_polls", True, True),
        ("shared_run_list_polls", " FALSE ", False),
        ("shared_run_list_polls", "True", True),
        ("dashboard_url", " https://dash.example.com/ ", "https://dash.example.com/"),
    ],
)
def test_check_accepts_values_as_connections_store_them(name, value, expected):
    result = OPTIONS[name].check(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("timeout", 0, "'timeout' must be a finite number >= 0.001, got 0"),
        ("timeout", "soon", "'timeout' must be a finite number >= 0.001, got 'soon'"),
        ("timeout", "nan", "'timeout' must be a finite number >= 0.001, got 'nan'"),
        ("timeout", float("inf"), "'timeout' must be a finite number >= 0.001, got inf"),
        ("timeout", "1e999", "'timeout' must be a finite number >= 0.001, got '1e999'"),
        ("timeout", True, "'timeout' must be a finite number >= 0.001, got True"),
        ("timeout", [5], "'timeout' must be a finite number >= 0.001, got [5]"),
        ("retry_limit", 21, "'retry_limit' must be an integer from 0 to 20, got 21"),
        ("retry_limit", 2.5, "'retry_limit' must be an integer from 0 to 20, got 2.5"),
        ("retry_limit", 10**400, "'retry_limit' must be an integer from 0 to 20, got 1" + "0" * 39 + "…"),
        ("retry_delay", -0.5, "'retry_delay' must be a finite number >= 0, got -0.5"),
        ("max_response_mb", 0.0009, "'max_response_mb' must be a finite number from 0.001 to 4096, got 0.0009"),
        ("max_concurrent_pages", 33, "'max_concurrent_pages' must be an integer from 1 to 32, got 33"),
        ("shared_run_list_polls", "yes", "'shared_run_list_polls' must be true or false, got 'yes'"),
        ("shared_run_list_polls", 1, "'shared_run_list_polls' must be true or false, got 1"),
        ("dashboard_url", 42, "'dashboard_url' must be an http:// or https:// URL, got 42"),
    ],
)
def test_check_refuses_naming_the_option_and_what_it_accepts(name, value, message):
    with pytest.raises(OptionError) as caught:
        OPTIONS[name].check(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_concurrent_pages", "4"),
        ("max_concurrent_pages", 4.0),
        ("timeout", "5"),
        ("shared_run_list_polls", "true"),
    ],
)
def test_a_strict_check_refuses_text_and_other_types(name, value):
    assert OPTIONS[name].check(value) is not None  # accepted from a connection, where extras may be text
    with pytest.raises(OptionError, match=f"^'{name}' must be"):
        OPTIONS[name].check(value, strict=True)


def test_a_strict_check_accepts_the_option_type():
    assert OPTIONS["max_concurrent_pages"].check(4, strict=True) == 4
    assert OPTIONS["timeout"].check(5, strict=True) == 5.0
    assert OPTIONS["shared_run_list_polls"].check(False, strict=True) is False


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, database=None)
@given(name=st.sampled_from(sorted(NUMERIC)), value=st.one_of(FINITE, st.integers(-(10**6), 10**6)))
def test_a_number_is_accepted_exactly_within_the_bounds(name, value):
    option = NUMERIC[name]
    fits = (option.minimum is None or value >= option.minimum) and (option.maximum is None or value <= option.maximum)
    whole = option.kind == "number" or float(value).is_integer()
    if fits and whole:
        assert option.check(value) == value
        assert option.check(repr(value)) == value
    else:
        with pytest.raises(OptionError, match=f"^'{name}' must be {option.accepts}, got"):
            option.check(value)


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_each_bound_is_accepted_and_the_next_value_past_it_refused(name):
    option = NUMERIC[name]
    step = 1 if option.kind == "integer" else None
    for bound, outward in ((option.minimum, -math.inf), (option.maximum, math.inf)):
        if bound is None:
            continue
        past = bound + math.copysign(step, outward) if step else math.nextafter(bound, outward)
        assert option.check(bound) == bound
        with pytest.raises(OptionError):
            option.check(past)


# ---- texts and schemas derive from the fields (they cannot drift from the check) ----------------------------------


def test_description_and_schema_follow_the_fields():
    option = Option("x", "X", "Does x.", "integer", default=3, minimum=2, maximum=5)
    assert option.description == "Does x. 2 to 5, default 3."
    assert option.schema() == {"type": ["integer", "null"], "minimum": 2, "maximum": 5, "default": 3}
    assert option.accepts == "an integer from 2 to 5"
    low = Option("y", "Y", "Does y.", "number", default=0.5, minimum=0.25)
    assert (low.description, low.accepts) == ("Does y. 0.25 or more, default 0.5.", "a finite number >= 0.25")
    assert Option("z", "Z", "Does z.", "number").description == "Does z."


def test_form_schemas_use_json_types():
    types = {name: option.schema()["type"] for name, option in OPTIONS.items()}
    assert types["dashboard_url"] == ["string", "null"] and OPTIONS["dashboard_url"].schema()["format"] == "url"
    assert types["shared_run_list_polls"] == ["boolean", "null"]
    assert types["retry_limit"] == types["max_concurrent_pages"] == ["integer", "null"]
    assert types["timeout"] == ["number", "null"]


@pytest.mark.parametrize(("number", "text"), [(30.0, "30"), (4096, "4096"), (0.001, "0.001"), (0, "0"), (2.5, "2.5")])
def test_number_text(number, text):
    assert number_text(number) == text


def test_the_default_as_legacy_form_text():
    texts = {name: option.default_str() for name, option in OPTIONS.items()}
    assert texts["timeout"] == "30" and texts["retry_delay"] == "1" and texts["max_response_mb"] == "64"
    assert texts["shared_run_list_polls"] == "false" and texts["dashboard_url"] is None


def test_importing_the_table_loads_nothing_else_of_the_provider_nor_airflow():
    code = (
        "import sys; import runtype_provider.client.options; "
        "print(sorted(m for m in sys.modules if m.startswith(('airflow', 'runtype_provider'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == repr(
        ["runtype_provider", "runtype_provider.client", "runtype_provider.client.options"]
    )
