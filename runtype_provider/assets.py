"""Runtype schedules as Airflow assets: the ``runtype://`` URI and the payload of a finished run's event.

One schedule is one asset, ``runtype://schedule/<schedule_id>``. Its events come from two places, and a
consumer DAG reads the same keys from both: a watcher (``RuntypeScheduleRunEventTrigger`` in an
``AssetWatcher``) and the operators' ``outlets``. Airflow puts a watcher's event payload under
``extra["payload"]``; the operators write their outlet event's extra in that same shape
(``{"payload": {...}}``), so ``run_event_payload_of(event)`` (or ``event.extra["payload"]``) works for both.
The payload is small and flat: ids, status, outcome, counts, finish time and the run's link; never records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

from runtype_provider.api.ids import DOT_SEGMENTS, id_text
from runtype_provider.runs.reference import PAYLOAD_KEYS as PAYLOAD_KEYS  # public: what a consumer reads

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "runtype"
RESOURCE = "schedule"
"""The URI's host part names the resource; ``schedules`` is accepted and normalised to it."""


def _id_segment(schedule_id: Any) -> str:
    text = id_text(schedule_id, "schedule_id")  # a RuntypeConfigurationError is a ValueError too
    if text in DOT_SEGMENTS:
        raise ValueError(f"'schedule_id' must not be {text!r} in a Runtype asset URI")
    return quote(text, safe="")


def schedule_asset_uri(schedule_id: Any) -> str:
    """``runtype://schedule/<schedule_id>``, the id percent-encoded as one path segment."""
    return f"{SCHEME}://{RESOURCE}/{_id_segment(schedule_id)}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise and validate a ``runtype://`` asset URI (Airflow's ``asset-uris`` handler).

    Accepts ``runtype://schedule/<id>`` (or ``schedules``, any case, a trailing slash); refuses anything
    else with a ``ValueError`` naming the part that is wrong, because Airflow reports it at DAG parse.
    """
    host = (uri.netloc or "").lower()
    if host not in (RESOURCE, f"{RESOURCE}s"):
        raise ValueError(
            f"Runtype asset URI {uri.geturl()!r} must look like runtype://schedule/<schedule_id>, "
            f"not name {uri.netloc!r} as its host"
        )
    if uri.query or uri.fragment:
        raise ValueError(f"Runtype asset URI {uri.geturl()!r} must not have a query or fragment")
    path = uri.path.strip("/")
    if not path or "/" in path:
        raise ValueError(f"Runtype asset URI {uri.geturl()!r} must name exactly one schedule id after the host")
    return SplitResult(SCHEME, RESOURCE, "/" + _id_segment(unquote(path)), "", "")


def schedule_id_from_uri(uri: str) -> str:
    """The schedule id an asset URI names (after validation)."""
    return unquote(sanitize_uri(urlsplit(uri)).path.lstrip("/"))


def create_asset(*, schedule_id: str, name: str | None = None, extra: dict[str, Any] | None = None) -> Asset:
    """The asset of one Runtype schedule (Airflow's ``asset-uris`` factory); ``name`` defaults to the URI."""
    from airflow.sdk import Asset

    uri = schedule_asset_uri(schedule_id)
    return Asset(name=name or uri, uri=uri, extra=extra or {})


def is_runtype_asset(asset: Any) -> bool:
    """True for an asset whose URI uses the ``runtype://`` scheme (outlets may mix in other assets)."""
    uri = getattr(asset, "uri", None)
    return isinstance(uri, str) and uri.lower().startswith(f"{SCHEME}://")


def run_event_payload_of(event: Any) -> dict[str, Any]:
    """A consumer's view of a Runtype asset event (watcher or operator): its payload dict.

    Accepts an ``AssetEvent`` (anything with ``.extra``) or its extra dict. Raises ``ValueError`` when the
    event carries no Runtype payload (e.g. an event created by hand in the UI).
    """
    extra = event if isinstance(event, dict) else getattr(event, "extra", None)
    payload = extra.get("payload") if isinstance(extra, dict) else None
    if not isinstance(payload, dict) or "run_id" not in payload:
        raise ValueError(f"Asset event has no Runtype run payload under extra['payload']: {extra!r}")
    return payload


# ---- OpenLineage ----------------------------------------------------------------------------------------

OPENLINEAGE_NAMESPACE = f"{SCHEME}://{RESOURCE}"
"""The OpenLineage dataset of ``runtype://schedule/<id>``: this namespace, named by the schedule id."""


def to_openlineage_dataset(asset: Any, lineage_context: Any = None) -> Any:
    """Airflow's ``to_openlineage_converter`` for ``runtype://`` assets (imports OpenLineage only when called)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=OPENLINEAGE_NAMESPACE, name=schedule_id_from_uri(asset.uri))
