"""The docs site and the README (issue 19): what a new user needs is there, and code in the docs comes from the code.

`make docs` builds the site strictly (a broken link, a missing page or an unknown class fails it); these tests keep
what the build cannot see: every example DAG is shown somewhere, every error has a troubleshooting entry, every
task a user has is a page in the table of contents, and the README stays a short landing page whose commands and
quick start are true.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from runtype_provider import exceptions

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(path for path in DOCS.glob("*.md"))

# One page per task a user has (issue 19, item 2), plus the changelog.
REQUIRED_PAGES = {
    "getting-started": "install, demo, quick start",
    "connection": "set up the connection (UI, env var, secrets backend; the Test button)",
    "run-and-wait": "run a schedule and wait",
    "results": "collect results (XCom, files, object storage, multi-host)",
    "batches": "run a flow or agent over records",
    "chaining": "chain runs",
    "manage-schedules": "the schedule-management operators",
    "event-driven": "event-driven DAGs (watchers, outlets, delivery semantics per Airflow version)",
    "testing": "test your DAGs with the local Runtype",
    "production": "running in production (executors, triggerer capacity, what crashes do)",
    "reliability": "reliability choices and the API's unknowns",
    "performance": "performance (the make bench tables and plot)",
    "troubleshooting": "troubleshooting",
    "contributing": "the module map for contributors",
    "changelog": "the changelog",
}


def includes() -> dict[str, set[str]]:
    """Each file a docs page includes (``literalinclude`` / ``include``), resolved, mapped to the pages."""
    found: dict[str, set[str]] = {}
    for page in PAGES:
        for target in re.findall(r"^```\{(?:literalinclude|include)\} (\S+)", page.read_text(), re.MULTILINE):
            found.setdefault(str((DOCS / target).resolve().relative_to(ROOT)), set()).add(page.stem)
    return found


def toctree_pages() -> list[str]:
    index = (DOCS / "index.md").read_text()
    entries: list[str] = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.DOTALL):
        entries += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")]
    return entries


@pytest.mark.parametrize("dag_file", sorted((ROOT / "example_dags").glob("*.py")), ids=lambda p: p.stem)
def test_every_example_dag_is_included_in_a_docs_page(dag_file: Path) -> None:
    pages = includes().get(f"example_dags/{dag_file.name}")
    assert pages, f"{dag_file.name} is included by no page of docs/ (add a literalinclude of it)"


def test_every_included_file_and_marker_exists() -> None:
    for page in PAGES:
        text = page.read_text()
        for target, options in re.findall(r"^```\{literalinclude\} (\S+)\n((?::.*\n)*)", text, re.MULTILINE):
            source = (DOCS / target).read_text()
            for marker in re.findall(r':(?:start-after|end-before): "(.+)"', options):
                assert marker in source, (page.name, target, marker)


def test_every_public_exception_has_a_troubleshooting_entry() -> None:
    public = [
        name
        for name, value in vars(exceptions).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == exceptions.__name__
    ]
    text = (DOCS / "troubleshooting.md").read_text()
    entries = set(
        re.findall(r"^```\{runtype-exception\} runtype_provider\.exceptions\.(\w+)\n(?=.)", text, re.MULTILINE)
    )
    assert len(public) >= 20
    assert sorted(set(public) - entries) == []


def test_the_five_common_mistakes_are_in_troubleshooting() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    section = text.split("## The five mistakes new users make most", 1)[1].split("\n## ", 1)[0]
    for mistake in (
        "wrong connection id",
        "`http://` host",
        "key in the wrong field or format",
        "schedule's name",
        "too large for XCom",
    ):
        assert mistake in section, mistake


def test_every_page_a_user_task_needs_is_in_the_table_of_contents() -> None:
    entries = toctree_pages()
    assert sorted(set(REQUIRED_PAGES) - set(entries)) == []
    for entry in entries:
        assert (DOCS / f"{entry}.md").is_file(), entry
    assert sorted(page.stem for page in PAGES if page.stem != "index") == sorted(entries)


def test_reference_entries_are_generated_not_pasted() -> None:
    """Operator argument tables come from the code (docs/_ext/runtype_docs.py), for every public task class."""
    text = "\n".join(page.read_text() for page in PAGES)
    generated = set(re.findall(r"^```\{runtype-class\} ([\w.]+)", text, re.MULTILINE))
    for name in (
        "runtype_provider.operators.runtype.RuntypeRunScheduleOperator",
        "runtype_provider.operators.results.RuntypeScheduleRunResultsOperator",
        "runtype_provider.operators.batches.RuntypeRunBatchOperator",
        "runtype_provider.sensors.runtype.RuntypeScheduleRunSensor",
        "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger",
        "runtype_provider.triggers.events.RuntypeScheduleRunEventTrigger",
    ):
        assert name in generated, name
    from runtype_provider.operators import schedules

    for name, value in vars(schedules).items():
        if inspect.isclass(value) and name.startswith("Runtype") and value.__module__ == schedules.__name__:
            assert f"runtype_provider.operators.schedules.{name}" in generated, name


def test_readme_is_a_short_landing_page_with_both_commands_on_its_first_screen() -> None:
    text = README.read_text()
    assert len(text.encode()) <= 10_500, f"README.md is {len(text.encode())} bytes; move detail into docs/"
    first_screen = "\n".join(text.splitlines()[:12])
    assert "make demo" in first_screen and "make test" in first_screen
    for target in ("demo:", "test:", "docs:", "package:"):
        assert re.search(rf"^{target}", (ROOT / "Makefile").read_text(), re.MULTILINE), target


def test_readme_quick_start_is_the_core_example_dag() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    dag = (ROOT / "example_dags" / "runtype_core_flow.py").read_text()
    region = dag.split("# [START quickstart]\n", 1)[1].split("# [END quickstart]\n", 1)[0]
    assert blocks == [region], "the README's quick start must be the quickstart region of runtype_core_flow.py"


def test_readme_links_exist_and_unknowns_are_included_in_the_docs() -> None:
    text = README.read_text()
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", text):
        assert (ROOT / target).exists(), target
    assert "<!-- unknowns:start -->" in text and "<!-- unknowns:end -->" in text
    assert "| Unknown | What the provider does | Where |" in text.split("<!-- unknowns:start -->", 1)[1]
    assert '"<!-- unknowns:start -->"' in (DOCS / "reliability.md").read_text()


def test_package_metadata_a_registry_page_needs() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["urls"]) >= {"Homepage", "Documentation", "Changelog", "Issues"}
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert project["keywords"] and len(project["classifiers"]) >= 10
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{project['version']}]" in changelog and "Keep a Changelog" in changelog
