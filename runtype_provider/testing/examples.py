"""The schedules the example DAGs expect, seeded into a local Runtype (used by ``make demo`` and the
end-to-end tests). Record outcomes are fixed so results can be asserted exactly."""

from __future__ import annotations

from typing import Any

CORE_RECORDS = ["rec_acme", "rec_globex", "rec_initech", "rec_umbrella", "rec_hooli"]
CORE_FAILING = ["rec_initech"]
CHAIN_RECORDS = ["rec_a", "rec_b", "rec_c", "rec_d", "rec_e", "rec_f"]
CHAIN_FAILING = ["rec_b", "rec_e"]
SURFACE = {"product_id": "prod_demo", "surface_id": "surf_weekly_digest"}


def seed_example_schedules(runtype: Any) -> dict[str, dict[str, Any]]:
    """Seed every schedule the example DAGs use into ``runtype`` (a LocalRuntype); returns them by id."""
    seeded = [
        runtype.seed_schedule(
            schedule_id="sch_nightly_enrichment",
            name="Nightly enrichment",
            flow_id="flow_enrich_company",
            record_type="company",
            record_ids=CORE_RECORDS,
            failing_record_ids=CORE_FAILING,
        ),
        runtype.seed_schedule(
            schedule_id="sch_lead_scoring", name="Lead scoring", record_type="lead", record_count=4, failure_share=0.0
        ),
        runtype.seed_schedule(
            schedule_id="sch_churn_watch", name="Churn watch", record_type="account", record_count=8, failure_share=0.25
        ),
        runtype.seed_schedule(
            schedule_id="sch_enrich_companies",
            name="Enrich companies",
            record_type="company",
            record_ids=CHAIN_RECORDS,
            failing_record_ids=CHAIN_FAILING,
        ),
        runtype.seed_schedule(
            schedule_id="sch_retry_failed", name="Retry failed records", record_type="company", record_ids=["rec_a"]
        ),
        runtype.seed_schedule(
            schedule_id="sch_weekly_digest",
            name="Weekly digest",
            flow_name="Weekly digest",
            record_type="user_activity",
            record_count=3,
            failure_share=0.0,
            **SURFACE,
        ),
    ]
    return {schedule["id"]: schedule for schedule in seeded}
