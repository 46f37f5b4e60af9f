"""The one demo data set: every schedule the example DAGs use, plus a cron schedule and a broken one, and the
records that fail in a batch submitted to a flow (``POST /v1/batch/flow``).

Served by ``runtype-local --seed-demo`` and seeded by ``make demo`` and the end-to-end tests, so a user who
starts the local Runtype by hand can run every example DAG against it. Record outcomes are fixed so results
can be asserted exactly: in a batch (of any flow or agent) a record of :data:`BATCH_FAILING` fails; submitted to
the same flow again, those of :data:`BATCH_RECOVERING` succeed (a transient failure) and the others fail again; any
other record succeeds.
"""

from __future__ import annotations

from typing import Any

CORE_RECORDS = ["rec_acme", "rec_globex", "rec_initech", "rec_umbrella", "rec_hooli"]
CORE_FAILING = ["rec_initech"]
CHAIN_RECORDS = ["rec_a", "rec_b", "rec_c", "rec_d", "rec_e", "rec_f"]
CHAIN_FAILING = ["rec_b", "rec_e"]
ASSET_RECORDS = ["acc_north", "acc_south", "acc_east", "acc_west"]
ASSET_FAILING = ["acc_east"]
SURFACE = {"product_id": "prod_demo", "surface_id": "surf_weekly_digest"}
BATCH_FLOW = "flow_score_leads"
"""The flow the batch pipeline example submits its leads to (a batch flow needs no seeding: any id runs)."""
RETRY_FLOW = "flow_retry_failed"
"""The flow the chaining example submits the failed records of a schedule run to."""
BATCH_RECORDS = ["lead_ada", "lead_grace", "lead_alan", "lead_edsger", "lead_barbara", "lead_donald"]
BATCH_FAILING = ["lead_alan", "lead_barbara"]
"""Fail in the first batch they are in on a flow."""
BATCH_RECOVERING = ["lead_alan"]
"""Of :data:`BATCH_FAILING`, those that succeed when submitted to the same flow again
(``Settings.recovering_record_ids``); the others fail every time (``Settings.failing_record_ids``)."""

DEMO_SCHEDULES: tuple[dict[str, Any], ...] = (
    {
        "schedule_id": "sch_nightly_enrichment",
        "name": "Nightly enrichment",
        "flow_id": "flow_enrich_company",
        "record_type": "company",
        "record_ids": CORE_RECORDS,
        "failing_record_ids": CORE_FAILING,
    },
    {"schedule_id": "sch_lead_scoring", "name": "Lead scoring", "record_type": "lead", "record_count": 4,
     "failure_share": 0.0},
    {"schedule_id": "sch_churn_watch", "name": "Churn watch", "record_type": "account", "record_count": 8,
     "failure_share": 0.25},
    {
        "schedule_id": "sch_enrich_companies",
        "name": "Enrich companies",
        "record_type": "company",
        "record_ids": CHAIN_RECORDS,
        "failing_record_ids": CHAIN_FAILING,
    },
    {"schedule_id": "sch_retry_failed", "name": "Retry failed records", "record_type": "company",
     "record_ids": ["rec_a"]},
    {
        "schedule_id": "sch_weekly_digest",
        "name": "Weekly digest",
        "flow_name": "Weekly digest",
        "record_type": "user_activity",
        "record_count": 3,
        "failure_share": 0.0,
        **SURFACE,
    },
    {
        "schedule_id": "sch_weekday_crm_sync",
        "name": "Weekday CRM sync",
        "flow_id": "flow_crm_sync",
        "cron": "0 8 * * 1-5",
        "timezone": "America/New_York",
        "record_ids": ["rec_1", "rec_2", "rec_3", "rec_4", "rec_5"],
        "failing_record_ids": ["rec_3"],
    },
    {
        "schedule_id": "sch_account_refresh",
        "name": "Account refresh",
        "flow_id": "flow_refresh_accounts",
        "record_type": "account",
        "record_ids": ASSET_RECORDS,
        "failing_record_ids": ASSET_FAILING,
    },
    {
        "schedule_id": "sch_broken_pipeline",
        "name": "Broken pipeline",
        "flow_id": "flow_broken",
        "record_type": "invoice",
        "record_count": 6,
        "run_outcome": "failed",
        "error": "Flow step 'fetch' failed: upstream returned 500",
    },
)  # fmt: skip


def seed_demo(runtype: Any) -> list[dict[str, Any]]:
    """Seed the demo data set into ``runtype`` (a ``State`` or a ``LocalRuntype``); returns the schedules. Adds
    :data:`BATCH_RECOVERING` to the server's ``recovering_record_ids`` and the rest of :data:`BATCH_FAILING` to its
    ``failing_record_ids`` (those already set are kept)."""
    seeded = [runtype.seed_schedule(**spec) for spec in DEMO_SCHEDULES]
    current = runtype.configure()
    permanent = [rid for rid in BATCH_FAILING if rid not in BATCH_RECOVERING]
    runtype.configure(
        failing_record_ids=_adding(current["failing_record_ids"], permanent),
        recovering_record_ids=_adding(current["recovering_record_ids"], BATCH_RECOVERING),
    )
    return seeded


def _adding(current: Any, more: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*current, *more]))
