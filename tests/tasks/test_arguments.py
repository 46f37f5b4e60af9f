"""Task-argument checks and the one step that turns ``schedule_id`` / ``schedule_name`` into an id at execute."""

from __future__ import annotations

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.tasks.arguments import resolve_schedule_id


@pytest.mark.parametrize(
    ("schedule_id", "schedule_name", "error"),
    [("s", "n", "not both"), (None, None, "is required"), ("", "  ", "is required")],
)
def test_resolving_after_templating_needs_exactly_one(schedule_id, schedule_name, error) -> None:
    with pytest.raises(RuntypeConfigurationError, match=error):
        resolve_schedule_id(RuntypeHook(), schedule_id, schedule_name)


def test_an_id_resolves_to_itself_without_a_request(requests_mock) -> None:
    assert resolve_schedule_id(RuntypeHook(), "sch_1", None) == "sch_1"
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(("argument", "given"), [("schedule_id", ("{{ params.sid }}", None)),
                                                 ("schedule_name", (None, "{{ var.value.name }}"))])  # fmt: skip
def test_a_template_that_renders_empty_is_named_with_what_it_rendered(requests_mock, argument, given) -> None:
    rendered = {"schedule_id": None, "schedule_name": None, argument: "  "}

    with pytest.raises(RuntypeConfigurationError, match=rf"^'{argument}' is empty after templating: '{{{{ "):
        resolve_schedule_id(RuntypeHook(), rendered["schedule_id"], rendered["schedule_name"], given=given)
    assert requests_mock.call_count == 0


def test_a_task_names_its_own_empty_render_before_any_request(requests_mock, context) -> None:
    from runtype_provider.operators.runtype import RuntypeRunScheduleOperator

    task = RuntypeRunScheduleOperator(task_id="run", schedule_id="{{ params.sid }}")
    task.schedule_id = ""  # what rendering a missing param gives

    with pytest.raises(RuntypeConfigurationError, match=r"'schedule_id' is empty after templating.*params"):
        task.execute(context)
    assert requests_mock.call_count == 0
