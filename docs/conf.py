"""Sphinx configuration of the provider's docs (``make docs``: strict, ``-W --keep-going -n``).

Pages are MyST markdown. Code is never pasted into them: snippets come from ``example_dags/`` with
``literalinclude``, and the reference entries (argument tables, exceptions, functions) are generated from the
code by ``docs/_ext/runtype_docs.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))
# The reference entries import the provider, which imports Airflow: keep its config out of ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(DOCS / "_build" / "airflow-home"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

project = "airflow-provider-runtype"
author = "The airflow-provider-runtype authors"
copyright = "2026, " + author

extensions = ["myst_parser", "runtype_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "perf/**", "screenshots/**", "**/.*"]  # perf/: the bench output

# MyST: headings up to level 3 get anchors, so [text](page.md#a-heading) is checked like any reference.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Strict: every cross-reference must resolve (`-n` on the command line, repeated here for a plain sphinx-build).
nitpicky = True
# Names from outside the provider that the generated entries may mention but these docs do not describe.
nitpick_ignore_regex = [(r"py:.*", r"(airflow|datetime|typing|collections)\..*")]

html_theme = "furo"
html_title = "Runtype provider for Apache Airflow"
html_static_path = ["_static"]
html_css_files = ["runtype.css"]
