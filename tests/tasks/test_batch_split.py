"""runtype_provider.tasks.batch_split: a task's records submitted as one run of several batches, each at most once per
task instance (intent before each POST, id after), a retry going on where the earlier try stopped, and a batch
refused after others cancelling those. The hook here is a stand-in that records what is asked (the operator's
tests and the end-to-end tests drive the real hook)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError, api_error_class
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import classify_run_status
from runtype_provider.tasks.batch_input import split_records
from runtype_provider.tasks.batch_split import RunSubmitter, no_batch_created
from runtype_provider.tasks.submission import SUBMISSION_KEY, RunSubmission, SubmissionStore

IDS = [f"r-{n}" for n in range(1, 8)]  # 7 records at 3 per batch: 3 batches
CHUNKS = split_records(IDS, None, 3)
WORK = RunSubmission("flow:f", "fp", (3, 3, 1))
SPEC = {"flow_id": "f", "agent_id": None, "flow_definition": None, "inputs": None, "options": None}


def api_error(status: int) -> Exception:
    return api_error_class(status)(method="POST", path="/v1/batch/flow", status_code=status, error="no")


class Store(dict):
    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


class Hook:
    """Answers a POST with the next batch id (or raises what ``refuse`` says for the n-th POST); batch statuses
    from ``statuses``; records what it was asked."""

    def __init__(self, store: Store, refuse: dict[int, Any] | None = None, statuses: dict[str, str] | None = None,
                 prefix: str = "new") -> None:  # fmt: skip
        self.store, self.refuse, self.statuses, self.prefix = store, refuse or {}, statuses or {}, prefix
        self.posts: list[dict[str, Any]] = []
        self.kept_before_post: list[Any] = []
        self.cancelled: list[str] = []
        self.summary: Any = SimpleNamespace(batches=[], recent=[])

    def submit_batch(self, **body: Any) -> Any:
        self.kept_before_post.append(self.store.get(SUBMISSION_KEY))
        self.posts.append(body)
        refusal = self.refuse.get(len(self.posts))
        if isinstance(refusal, Exception):
            raise refusal
        return SimpleNamespace(batch_execution_id=f"{self.prefix}-{len(self.posts)}", status=refusal or "queued")

    def run_reference(self, **ids: Any) -> RunReference:
        return RunReference(**ids, run_url="https://app/x")

    def get_run_progress(self, run: RunReference) -> RunProgress:
        status = self.statuses.get(run.batch_execution_id or "", "running")
        return RunProgress(status=status, outcome=classify_run_status(status))

    def get_batch_status(self, batch: str) -> Any:
        return SimpleNamespace(status=self.statuses.get(batch, "running"), flow_id="f")

    def cancel_batch(self, batch: str) -> Any:
        self.cancelled.append(batch)
        return SimpleNamespace(success=True, message="ok")

    def get_batch_summary(self) -> Any:
        return self.summary


def submitter(hook: Hook, store: Store, **kwargs: Any) -> tuple[RunSubmitter, list[Any], list[RunReference]]:
    spent: list[Any] = []
    published: list[RunReference] = []
    made = RunSubmitter(
        hook, SubmissionStore(store, logging.getLogger("split")), logging.getLogger("split"),
        on_unknown_submission=kwargs.get("on_unknown_submission", "fail"), count_spent=spent.append,
        publish=published.append,
    )  # fmt: skip
    return made, spent, published


def test_each_batch_is_posted_in_order_after_its_intent_and_the_run_lists_every_batch():
    store = Store()
    hook = Hook(store)
    made, _, published = submitter(hook, store)

    run = made.submit(WORK, CHUNKS, SPEC)

    assert run.batch_ids == ("new-1", "new-2", "new-3") and published == [run]
    assert [post["record_ids"] for post in hook.posts] == [IDS[:3], IDS[3:6], IDS[6:]]
    assert all(post["flow_id"] == "f" and post["records"] is None for post in hook.posts)
    kept = [[b["batch_execution_id"] for b in state["batches"]] for state in hook.kept_before_post]
    assert kept == [[None], ["new-1", None], ["new-1", "new-2", None]]  # each intent kept before its POST
    assert [b["batch_execution_id"] for b in store[SUBMISSION_KEY]["batches"]] == ["new-1", "new-2", "new-3"]


@pytest.mark.parametrize("refusal", [api_error(402), api_error(429), RuntypeConfigurationError("bad body")])
def test_a_later_batch_surely_not_created_cancels_the_batches_submitted_and_fails_naming_them(refusal):
    store = Store()
    hook = Hook(store, refuse={3: refusal})
    made, _, published = submitter(hook, store)

    with pytest.raises(RuntypeRunError, match=r"batch 3 of 3 was refused .*; the 2 other batches this task submitted "
                                              r"\(new-1, new-2\) were cancelled") as exc:  # fmt: skip
        made.submit(WORK, CHUNKS, SPEC)

    assert exc.value.__cause__ is refusal and hook.cancelled == ["new-1", "new-2"]
    assert store == {} and published[-1].batch_ids == ("new-1", "new-2")


def test_a_first_batch_surely_not_created_raises_its_own_error_and_forgets_the_intent():
    store = Store()
    hook = Hook(store, refuse={1: api_error(402)})
    made, _, published = submitter(hook, store)

    with pytest.raises(type(api_error(402))):
        made.submit(WORK, CHUNKS, SPEC)
    assert store == {} and published == [] and hook.cancelled == []


def test_an_unknown_outcome_keeps_the_intent_for_the_retry_which_goes_on_from_there():
    store = Store()
    made, _, _ = submitter(Hook(store, refuse={2: api_error(503)}), store)
    with pytest.raises(type(api_error(503))):
        made.submit(WORK, CHUNKS, SPEC)
    assert [b["batch_execution_id"] for b in store[SUBMISSION_KEY]["batches"]] == ["new-1", None]

    retry = Hook(store, prefix="retry")  # the 503'd POST created nothing Runtype lists: resubmitted as asked
    made, _, _ = submitter(retry, store, on_unknown_submission="resubmit")
    run = made.submit(WORK, CHUNKS, SPEC)

    assert [post["record_ids"] for post in retry.posts] == [IDS[3:6], IDS[6:]]  # the first batch is not posted again
    assert run.batch_ids == ("new-1", "retry-1", "retry-2")


def test_a_retry_reattaches_to_the_batches_still_good_and_resubmits_one_that_failed():
    store = Store({SUBMISSION_KEY: WORK.with_intent(0, 1.0).with_batch(0, "old-1").with_intent(1, 2.0)
                   .with_batch(1, "old-2").to_state()})  # fmt: skip
    hook = Hook(store, statuses={"old-1": "failed", "old-2": "completed"})
    made, spent, _ = submitter(hook, store)

    run = made.submit(WORK, CHUNKS, SPEC)

    assert run.batch_ids == ("new-1", "old-2", "new-2")  # chunk order kept
    assert [post["record_ids"] for post in hook.posts] == [IDS[:3], IDS[6:]]
    assert [r.batch_execution_id for r in spent] == ["old-1"]  # the failed batch's cost counts for the budget


def test_an_interrupted_post_is_reconciled_never_with_the_runs_own_other_batches():
    started = "2030-01-01T00:00:00Z"
    state = WORK.with_intent(0, 1.0).with_batch(0, "old-1").with_intent(1, 2.0)
    store = Store({SUBMISSION_KEY: state.to_state()})
    hook = Hook(store)
    hook.summary = SimpleNamespace(batches=[SimpleNamespace(id=b, started_at=started, total_records=3)
                                            for b in ("old-1", "lost-2")], recent=[])  # fmt: skip
    made, _, _ = submitter(hook, store)

    run = made.submit(WORK, CHUNKS, SPEC)

    assert run.batch_ids == ("old-1", "lost-2", "new-1") and len(hook.posts) == 1


def test_an_interrupted_post_without_a_match_fails_by_default_naming_the_batches_kept():
    store = Store({SUBMISSION_KEY: WORK.with_intent(0, 1.0).with_batch(0, "old-1").with_intent(1, 2.0).to_state()})
    made, _, _ = submitter(Hook(store), store)

    with pytest.raises(RuntypeRunError, match=r"a batch of 3 records \(batch 2 of 3\) to flow:f .* the run's other "
                                              r"batches \(old-1\) are kept for the next try"):  # fmt: skip
        made.submit(WORK, CHUNKS, SPEC)
    assert store[SUBMISSION_KEY]["batches"][1]["batch_execution_id"] is None


def test_a_refused_batch_status_cancels_the_others_and_a_lone_refused_batch_just_fails():
    store = Store()
    hook = Hook(store, refuse={2: "failed"})
    made, _, _ = submitter(hook, store)
    with pytest.raises(RuntypeRunError, match=r"Runtype refused batch new-2 \(2 of 3\): status 'failed'; .*\(new-1\)"):
        made.submit(WORK, CHUNKS, SPEC)
    assert hook.cancelled == ["new-1"] and store == {}

    lone = Hook(store, refuse={1: "failed"})
    made, _, published = submitter(lone, store)
    with pytest.raises(RuntypeRunError, match=r"^Runtype refused batch new-1: status 'failed'$"):
        made.submit(RunSubmission("flow:f", "fp", (3,)), split_records(IDS[:3], None, 3), SPEC)
    assert lone.cancelled == [] and published[0].batch_ids == ("new-1",)


def test_what_surely_created_no_batch():
    assert no_batch_created(api_error(402)) and no_batch_created(RuntypeConfigurationError("x"))
    assert not no_batch_created(api_error(502)) and not no_batch_created(KeyError("x"))


def test_an_ended_batchs_cost_counts_once_when_its_records_are_submitted_again_not_when_the_try_stops_before():
    store = Store({SUBMISSION_KEY: WORK.with_intent(0, 1.0).with_batch(0, "old-1").with_intent(1, 2.0).to_state()})
    hook = Hook(store, statuses={"old-1": "cancelled"})
    made, spent, _ = submitter(hook, store)
    with pytest.raises(RuntypeRunError, match="did not learn whether Runtype created it"):
        made.submit(WORK, CHUNKS, SPEC)  # batch 2's outcome is unknown: nothing submitted, nothing counted
    assert spent == [] and hook.posts == []

    made, spent, _ = submitter(hook, store, on_unknown_submission="resubmit")
    run = made.submit(WORK, CHUNKS, SPEC)
    assert [r.batch_execution_id for r in spent] == ["old-1"] and run.batch_ids == ("new-1", "new-2", "new-3")
