"""The base of the API's response models and the count type, apart from the models themselves.

Kept separate so the run models tasks use (:mod:`~runtype_provider.runs.reference`) can be defined without
defining every response model of :mod:`~runtype_provider.api.responses`, which only a call needs: a DAG file
that imports the operators stays cheap to parse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt
from pydantic.alias_generators import to_camel

Count = NonNegativeInt
"""A record count or pagination number: a negative value makes the answer malformed (it would corrupt the
failed-records share, progress lines and where paging stops)."""


class RuntypeModel(BaseModel):
    """Base model: camelCase aliases, snake_case attributes, unknown fields kept.

    Built on first use (``defer_build``): defining a model costs no schema until it validates something.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", defer_build=True)

    def to_api(self) -> dict[str, Any]:
        """The model as the API spells it (camelCase keys, unknown fields included), JSON-serializable."""
        return self.model_dump(by_alias=True, mode="json")
