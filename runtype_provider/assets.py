"""Runtype schedules, flows and agents as Airflow assets: the ``runtype://`` URI and the payload of a finished
run's event.

One schedule is one asset, ``runtype://schedule/<schedule_id>``; one flow ``runtype://flow/<flow_id>``; one agent
``runtype://agent/<agent_id>``. A schedule's events come from two places, and a consumer DAG reads the same keys
from both: a watcher (``RuntypeScheduleRunEventTrigger`` in an ``AssetWatcher``) and the operators' ``outlets``.
Airflow puts a watcher's event payload under ``extra["payload"]``; the operators write their outlet event's extra
in that same shape (``{"payload": {...}}``), so ``run_event_payload_of(event)`` (or ``event.extra["payload"]``)
works for both. A flow's or an agent's events come from the batch operator's ``outlets``: the same keys plus
:data:`BATCH_PAYLOAD_EXTRA_KEYS` (target ids, every batch id, cost). The payload is small and flat: ids, status,
outcome, counts, finish time and the run's link; never records.
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
RESOURCES = ("schedule", "flow", "agent")
"""The URI's host part names the resource; a plural (``schedules``, ``flows``, ``agents``) is normalised to it."""
BATCH_PAYLOAD_EXTRA_KEYS = ("flow_id", "agent_id", "batch_execution_ids", "total_cost_usd", "billed_cost_usd")
BATCH_PAYLOAD_KEYS = (*PAYLOAD_KEYS, *BATCH_PAYLOAD_EXTRA_KEYS)
"""Keys of a batch's event payload on its flow's or agent's asset, always all present (``None`` when not known)."""


def _id_segment(target_id: Any, resource: str = RESOURCE) -> str:
    argument = f"{resource}_id"
    text = id_text(target_id, argument)  # a RuntypeConfigurationError is a ValueError too
    if text in DOT_SEGMENTS:
        raise ValueError(f"{argument!r} must not be {text!r} in a Runtype asset URI")
    return quote(text, safe="")


def asset_uri(resource: str, target_id: Any) -> str:
    """``runtype://<resource>/<id>`` for a resource of :data:`RESOURCES`, the id percent-encoded as one segment."""
    if resource not in RESOURCES:
        raise ValueError(f"a Runtype asset names one of {', '.join(RESOURCES)}, not {resource!r}")
    return f"{SCHEME}://{resource}/{_id_segment(target_id, resource)}"


def schedule_asset_uri(schedule_id: Any) -> str:
    """``runtype://schedule/<schedule_id>``, the id percent-encoded as one path segment."""
    return asset_uri("schedule", schedule_id)


def flow_asset_uri(flow_id: Any) -> str:
    """``runtype://flow/<flow_id>``, the id percent-encoded as one path segment."""
    return asset_uri("flow", flow_id)


def agent_asset_uri(agent_id: Any) -> str:
    """``runtype://agent/<agent_id>``, the id percent-encoded as one path segment."""
    return asset_uri("agent", agent_id)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise and validate a ``runtype://`` asset URI (Airflow's ``asset-uris`` handler).

    Accepts ``runtype://schedule/<id>``, ``runtype://flow/<id>`` and ``runtype://agent/<id>`` (or the plural, any
    case, a trailing slash); refuses anything else with a ``ValueError`` naming the part that is wrong, because
    Airflow reports it at DAG parse.
    """
    host = (uri.netloc or "").lower()
    resource = host[:-1] if host.endswith("s") and host[:-1] in RESOURCES else host
    if resource not in RESOURCES:
        raise ValueError(
            f"Runtype asset URI {uri.geturl()!r} must look like runtype://schedule/<schedule_id>, "
            f"runtype://flow/<flow_id> or runtype://agent/<agent_id>, not name {uri.netloc!r} as its host"
        )
    if uri.query or uri.fragment:
        raise ValueError(f"Runtype asset URI {uri.geturl()!r} must not have a query or fragment")
    path = uri.path.strip("/")
    if not path or "/" in path:
        raise ValueError(f"Runtype asset URI {uri.geturl()!r} must name exactly one {resource} id after the host")
    return SplitResult(SCHEME, resource, "/" + _id_segment(unquote(path), resource), "", "")


def asset_target(uri: str) -> tuple[str, str]:
    """``(resource, id)`` of a ``runtype://`` asset URI (after validation), e.g. ``("flow", "flow_1")``."""
    normal = sanitize_uri(urlsplit(uri))
    return normal.netloc, unquote(normal.path.lstrip("/"))


def schedule_id_from_uri(uri: str) -> str:
    """The schedule id a schedule's asset URI names (after validation); a flow's or agent's URI is refused."""
    resource, target_id = asset_target(uri)
    if resource != "schedule":
        raise ValueError(f"Runtype asset URI {uri!r} names a {resource}, not a schedule")
    return target_id


def create_asset(
    *,
    schedule_id: str | None = None,
    flow_id: str | None = None,
    agent_id: str | None = None,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Asset:
    """The asset of one Runtype schedule, flow or agent (exactly one of the ids; Airflow's ``asset-uris``
    factory); ``name`` defaults to the URI."""
    from airflow.sdk import Asset

    given = [(resource, value) for resource, value in zip(RESOURCES, (schedule_id, flow_id, agent_id), strict=True)
             if value is not None]  # fmt: skip
    if len(given) != 1:
        raise ValueError(
            "create_asset takes exactly one of schedule_id, flow_id and agent_id, got "
            + (", ".join(f"{resource}_id" for resource, _ in given) or "none")
        )
    uri = asset_uri(*given[0])
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


def openlineage_namespace(resource: str) -> str:
    """The OpenLineage namespace of a resource's datasets: ``runtype://schedule``, ``runtype://flow``, ... (each
    dataset named by its id)."""
    return f"{SCHEME}://{resource}"


def to_openlineage_dataset(asset: Any, lineage_context: Any = None) -> Any:
    """Airflow's ``to_openlineage_converter`` for ``runtype://`` assets (imports OpenLineage only when called)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    resource, target_id = asset_target(asset.uri)
    return Dataset(namespace=openlineage_namespace(resource), name=target_id)
