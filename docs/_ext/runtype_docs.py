"""Reference entries generated from the code, so the docs cannot drift from it.

Directives (usable in MyST pages as ```` ```{runtype-class} dotted.path ```` fences):

``runtype-class``
    A class (operator, sensor, trigger, hook): its docstring and a table of its arguments built from the
    ``__init__`` signatures along its MRO (name, type, default, templated or not) and the ``:param x:`` fields of
    its docstrings. The build fails when an argument has no description, when a ``:param:`` names no argument, and
    when a note below is never used.
``runtype-exception``
    An exception class of :mod:`runtype_provider.exceptions`: its docstring, then the directive's content (what
    causes it and what to do, written in the page). The build fails when a public exception class has no entry.
``runtype-function``
    A function: its signature and docstring.

Roles in docstrings (``:class:`X```, ``:func:``, ``:mod:``, ...) are resolved by importing their target (the
build fails when that fails); a target the docs describe becomes a link, any other one plain code.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Parser as RstParser
from docutils.parsers.rst import directives
from docutils.utils import new_document
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

EXCEPTIONS_MODULE = "runtype_provider.exceptions"

# Descriptions of arguments that a class takes from a shared base whose docstring has no ``:param:`` for them.
# Keyed ``Class.argument`` (that class only) or ``argument`` (any class). An unused note fails the build.
ARGUMENT_NOTES = {
    "runtype_conn_id": "the Runtype connection id (default ``runtype_default``).",
    "hook_params": "extra :class:`~runtype_provider.hooks.runtype.RuntypeHook` arguments (``timeout``, "
    "``retry_limit``, ``retry_delay``, ``retry_max_delay``); they reach the trigger too.",
    "schedule_id": "the schedule's id (templated); or give ``schedule_name``.",
    "schedule_name": "alternatively, the schedule's exact name (templated; case-sensitive, outer spaces ignored), "
    "looked up when the task runs.",
    "product_id": "product of a product-surface schedule (templated; with ``surface_id``).",
    "surface_id": "surface of a product-surface schedule (templated; with ``product_id``).",
    "RuntypeScheduleRunSensor.run": "the run reference: the run operator's (or the batch operator's) ``.output``.",
    "RuntypeScheduleRunSensor.run_id": "alternatively, the run id (with ``schedule_id`` or ``schedule_name``).",
    "RuntypeScheduleRunSensor.batch_execution_id": "alternatively, the batch execution id.",
    "RuntypeListSchedulesOperator.page_size": "schedules per API request.",
    "flow_id": "the flow the schedule runs (exactly one of ``flow_id`` and ``agent_id``).",
    "agent_id": "the agent the schedule runs (global schedules).",
    "record_type": "the type of the records the schedule runs over.",
    "record_ids": "the records the schedule runs over.",
    "record_filter": "a filter choosing the records (JSON).",
    "trigger_type": "``recurring`` (with ``cron``) or ``one_time`` (with ``run_at``).",
    "cron": "cron expression of a recurring schedule.",
    "timezone": "time zone of ``cron`` / ``run_at`` (on update, the current one is kept when omitted).",
    "run_at": "ISO time of a one-time schedule.",
    "execution_options": "the API's ``executionOptions`` (e.g. ``recordConcurrency``, ``maxRetries``).",
    "name": "the schedule's name.",
    "inputs": "inputs passed to the flow (global schedules).",
    "messages": "messages passed to an agent (global schedules).",
    "enabled": "whether a product-surface schedule is enabled.",
}


# ---------------------------------------------------------------------------------------------------- code reading
def import_object(dotted: str) -> Any:
    """The object a dotted path names (a module, or attributes of one), or raise ``LookupError``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            break
        return obj
    raise LookupError(dotted)


def canonical_name(obj: Any, fallback: str) -> str:
    """Where a class or function is defined (a re-export resolves to its home), else ``fallback``."""
    if inspect.ismodule(obj):
        return obj.__name__
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and "<" not in obj.__qualname__:
        return f"{obj.__module__}.{obj.__qualname__}"
    return fallback


def import_provider() -> None:
    """Import every module of the provider once, so a bare name resolves the same whatever page comes first."""
    import pkgutil

    package = importlib.import_module("runtype_provider")
    for module in pkgutil.walk_packages(package.__path__, "runtype_provider."):
        if module.name not in sys.modules:
            importlib.import_module(module.name)


def resolve(target: str, owner: Any) -> str | None:
    """Full name of a docstring role's target, looked up as written, then in ``owner``'s class and module."""
    target = target.lstrip("~.")
    candidates = [target]
    if inspect.isclass(owner):
        candidates.append(f"{owner.__module__}.{owner.__qualname__}.{target}")
    module = owner.__name__ if inspect.ismodule(owner) else getattr(owner, "__module__", "")
    candidates.append(f"{module}.{target}")
    for candidate in candidates:
        try:
            return canonical_name(import_object(candidate), candidate)
        except LookupError:
            continue
    if "." not in target:  # a bare class name: accepted when exactly one class of the provider has it
        import_provider()
        homes = {
            canonical_name(value, "")
            for name, module in list(sys.modules.items())
            if name.startswith("runtype_provider")
            for value in [getattr(module, target, None)]
            if inspect.isclass(value) or inspect.isfunction(value)
        }
        if len(homes) == 1:
            return homes.pop()
    return None


ROLE = re.compile(r":(?:py:)?(class|exc|func|meth|attr|mod|data|obj):`(~?)([^`]+)`")
TITLED = re.compile(r"(.*?)\s*<([^<>]+)>")
PARAM = re.compile(r":param (\w+):")


def split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring's text without its ``:param x:`` fields, and those fields (whitespace-normalised)."""
    params: dict[str, str] = {}
    body: list[str] = []
    matches = list(PARAM.finditer(doc))
    position = 0
    for index, match in enumerate(matches):
        body.append(doc[position : match.start()])
        end = matches[index + 1].start() if index + 1 < len(matches) else len(doc)
        blank = doc.find("\n\n", match.end(), end)
        end = blank if blank != -1 else end
        params[match.group(1)] = " ".join(doc[match.end() : end].split())
        position = end
    body.append(doc[position:])
    return "".join(body).strip(), params


def signature_arguments(cls: type) -> list[tuple[type, inspect.Parameter]]:
    """The named ``__init__`` arguments along ``cls``'s MRO (the provider's classes only), subclass first."""
    seen: dict[str, tuple[type, inspect.Parameter]] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("runtype_provider") or "__init__" not in vars(klass):
            continue
        for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
            if parameter.name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            seen.setdefault(parameter.name, (klass, parameter))
    return list(seen.values())


def documented_params(cls: type) -> dict[str, tuple[type, str]]:
    """``:param:`` fields along ``cls``'s MRO (the provider's classes only), subclass first."""
    fields: dict[str, tuple[type, str]] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("runtype_provider"):
            for name, text in split_docstring(inspect.cleandoc(vars(klass).get("__doc__") or ""))[1].items():
                fields.setdefault(name, (klass, text))
    return fields


def indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


# ------------------------------------------------------------------------------------------------------ directives
class _CodeEntry(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec: dict[str, Any] = {"no-arguments": directives.flag}

    def target(self) -> tuple[str, Any]:
        dotted = self.arguments[0]
        try:
            return dotted, import_object(dotted)
        except LookupError:
            raise self.error(f"{self.name}: {dotted!r} cannot be imported (renamed or removed?)") from None

    def roles(self, text: str, owner: Any) -> str:
        """Docstring roles pointed at their full names, each checked by importing it."""

        def replace(match: re.Match[str]) -> str:
            kind, short, target = match.groups()
            titled = TITLED.fullmatch(target)
            title, target = (titled.group(1), titled.group(2)) if titled else ("", target)
            full = resolve(target, owner)
            if full is None:
                logger.warning(
                    "%s: docstring of %s refers to %r, which cannot be imported",
                    self.name,
                    getattr(owner, "__qualname__", owner),
                    target,
                    location=self.get_location(),
                )
                return f"``{target}``"
            record(self.env, "docstring_targets", full)
            role = {"exc": "class", "obj": "class"}.get(kind, kind)
            if title:
                return f":py:{role}:`{title} <{full}>`"
            return f":py:{role}:`{'~' if short or full != target else ''}{full}`"

        return ROLE.sub(replace, text)

    def parse_rst(self, text: str) -> list[nodes.Node]:
        document = new_document(self.env.docname, self.state.document.settings)
        document.reporter = self.state.document.reporter
        RstParser().parse(text, document)
        return list(document.children)

    def content_nodes(self) -> list[nodes.Node]:
        if not self.content:
            return []
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        return list(container.children)

    def entry(self, directive: str, name: str, module: str, body: str) -> list[nodes.Node]:
        text = f".. py:{directive}:: {name}\n   :module: {module}\n\n{indent(body)}\n"
        result = self.parse_rst(text)
        extra = self.content_nodes()
        for desc in result:
            for content in desc.findall(addnodes.desc_content):
                content.extend(extra)
                break
        return result


class RuntypeClass(_CodeEntry):
    """A class with its docstring and its generated argument table."""

    def run(self) -> list[nodes.Node]:
        _, cls = self.target()
        body, _ = split_docstring(inspect.cleandoc(cls.__doc__ or ""))
        body = self.roles(body, cls)
        if "no-arguments" not in self.options:
            body += "\n\n" + self.argument_table(cls)
        return self.entry("class", cls.__qualname__, cls.__module__, body)

    def argument_table(self, cls: type) -> str:
        fields = documented_params(cls)
        arguments = signature_arguments(cls)
        names = {parameter.name for _, parameter in arguments}
        for name, (klass, _) in fields.items():
            if name not in names:
                logger.warning(
                    "%s: %s documents ':param %s:', which no __init__ of %s takes",
                    self.name,
                    klass.__qualname__,
                    name,
                    cls.__qualname__,
                    location=self.get_location(),
                )
        templated = set(getattr(cls, "template_fields", ()) or ())
        rows = []
        for klass, parameter in arguments:
            if parameter.name in fields:
                owner, text = fields[parameter.name][0], fields[parameter.name][1]
            else:
                key = next(
                    (k for k in (f"{cls.__name__}.{parameter.name}", parameter.name) if k in ARGUMENT_NOTES), None
                )
                if key is None:
                    logger.warning(
                        "%s: argument %r of %s (from %s.__init__) has no ':param %s:' and no note in ARGUMENT_NOTES",
                        self.name,
                        parameter.name,
                        cls.__qualname__,
                        klass.__qualname__,
                        parameter.name,
                        location=self.get_location(),
                    )
                    text, owner = "", klass
                else:
                    record(self.env, "used_notes", key)
                    text, owner = ARGUMENT_NOTES[key], klass
            annotation = parameter.annotation
            kind = "" if annotation is inspect.Parameter.empty else f"``{annotation}``"
            if isinstance(annotation, type):
                kind = f"``{annotation.__name__}``"
            notes = ", ".join(part for part in (kind, "templated" if parameter.name in templated else "") if part)
            name = f"**{parameter.name}**" + (f"\n\n       {notes}" if notes else "")
            default = "required" if parameter.default is inspect.Parameter.empty else f"``{parameter.default!r}``"
            rows.append((name, default, self.roles(text, owner) or "-"))
        lines = [
            ".. list-table:: Arguments",
            "   :header-rows: 1",
            "   :widths: 30 14 56",
            "   :class: runtype-arguments",
            "",
            "   * - Argument",
            "     - Default",
            "     - Meaning",
        ]
        for row in rows:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        bases = [klass.__name__ for klass in cls.__mro__]
        if "BaseSensorOperator" in bases:
            lines += [
                "",
                "Plus the arguments of Airflow's ``BaseSensorOperator`` (``mode``, ``poke_interval``, "
                "``timeout``, ``soft_fail``, ...) and ``BaseOperator`` (``task_id``, ``retries``, ...).",
            ]
        elif "BaseOperator" in bases:
            lines += [
                "",
                "Plus the arguments of Airflow's ``BaseOperator`` (``task_id``, ``retries``, "
                "``execution_timeout``, ``outlets``, ...).",
            ]
        return "\n".join(lines)


class RuntypeException(_CodeEntry):
    """An exception class: its docstring, then the page's cause-and-fix text (the directive's content)."""

    def run(self) -> list[nodes.Node]:
        dotted, cls = self.target()
        if not (inspect.isclass(cls) and issubclass(cls, BaseException)):
            raise self.error(f"{self.name}: {dotted!r} is not an exception class")
        if not self.content:
            raise self.error(f"{self.name}: {dotted!r} needs what causes it and what to do, as content")
        record(self.env, "exception_entries", cls.__name__)
        body = self.roles(inspect.cleandoc(cls.__doc__ or ""), cls)
        bases = ", ".join(
            f"``{b.__name__}``" if b.__module__ == "builtins" else f":py:class:`~{canonical_name(b, b.__name__)}`"
            for b in cls.__bases__
        )
        body += f"\n\nA subclass of {bases}." if bases else ""
        return self.entry("exception", cls.__qualname__, cls.__module__, body)


class RuntypeFunction(_CodeEntry):
    """A function: its signature (without annotations) and docstring."""

    def run(self) -> list[nodes.Node]:
        _, function = self.target()
        signature = inspect.signature(function)
        plain = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        body = self.roles(inspect.cleandoc(function.__doc__ or ""), function)
        return self.entry("function", f"{function.__qualname__}{plain}", function.__module__, body)


class RuntypeConnectionOptions(_CodeEntry):
    """The connection's extra fields, from the one table the form and the reader share (client/options.py)."""

    required_arguments = 0
    has_content = False

    def run(self) -> list[nodes.Node]:
        from runtype_provider.client.options import OPTIONS

        lines = [
            ".. list-table:: Connection extras (the form's extra fields)",
            "   :header-rows: 1",
            "   :widths: 22 24 54",
            "",
            "   * - Extra key",
            "     - Form label",
            "     - Meaning",
        ]
        for option in OPTIONS.values():
            lines += [f"   * - ``{option.name}``", f"     - {option.label}", f"     - {option.description}"]
        return self.parse_rst("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------------------- checks
def record(env: BuildEnvironment, kind: str, value: str) -> None:
    """Note ``value`` for the page being read (kept in the environment, dropped when the page is read again)."""
    pages: dict[str, dict[str, set[str]]] = env.__dict__.setdefault("runtype_records", {})
    pages.setdefault(env.docname, {}).setdefault(kind, set()).add(value)


def gathered(env: BuildEnvironment, kind: str) -> set[str]:
    return {value for page in getattr(env, "runtype_records", {}).values() for value in page.get(kind, ())}


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "runtype_records", {}).pop(docname, None)


def accept_verified(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    """A docstring's reference to an object these docs do not describe (but that exists): plain code."""
    if node.get("refdomain") == "py" and node.get("reftarget") in gathered(env, "docstring_targets"):
        return contnode
    return None


def check_consistency(app: Sphinx, env: BuildEnvironment) -> None:
    """Every public exception class has a troubleshooting entry; every argument note is still used."""
    module = importlib.import_module(EXCEPTIONS_MODULE)
    public = {
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == EXCEPTIONS_MODULE
        and not name.startswith("_")
    }
    missing = sorted(public - gathered(env, "exception_entries"))
    if missing:
        logger.warning("runtype-exception: no entry for %s (add one to troubleshooting.md)", ", ".join(missing))
    unused = sorted(set(ARGUMENT_NOTES) - gathered(env, "used_notes"))
    if unused:
        logger.warning("runtype-class: ARGUMENT_NOTES entries no argument uses any more: %s", ", ".join(unused))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("runtype-class", RuntypeClass)
    app.add_directive("runtype-exception", RuntypeException)
    app.add_directive("runtype-function", RuntypeFunction)
    app.add_directive("runtype-connection-options", RuntypeConnectionOptions)
    app.connect("missing-reference", accept_verified)
    app.connect("env-purge-doc", purge)
    app.connect("env-check-consistency", check_consistency)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True, "env_version": 1}
