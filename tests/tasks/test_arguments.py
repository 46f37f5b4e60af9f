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
