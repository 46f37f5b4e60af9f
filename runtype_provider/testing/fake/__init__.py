"""The local Runtype: an in-memory fake of the Runtype API, served by a FastAPI app (see ``../README.md``).

Modules, each importing only those above it: ``wire`` (JSON, query parameters, cursors, error bodies),
``settings`` (what a test can set), ``simulation`` (run progress, clock, cron), ``schedules`` (the schedule
document and its rules), ``batches`` (batches submitted directly, costs, steps, the daily limit), ``faults``
(fault injection), ``store`` (what one local Runtype holds), ``handlers`` (the API's operations: ``State``) and
``app`` (routing, auth, faults, request log, admin routes).
"""
