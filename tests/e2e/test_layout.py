"""The layout rule of issue 15, kept: every runtime module has exactly one test module at the mirrored path, every
test module outside the cross-cutting folders mirrors a module, and no runtime module outgrows one sitting."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "runtype_provider"
CROSS_CUTTING = {"e2e", "contract", "deployment", "ui"}
MAX_LINES = 520


def modules() -> list[Path]:
    return sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_every_module_has_its_test_module() -> None:
    missing = [str(m) for m in modules() if not (ROOT / "tests" / m.parent / f"test_{m.name}").exists()]
    assert missing == []


def test_every_test_module_mirrors_a_module() -> None:
    tests = [p.relative_to(ROOT / "tests") for p in (ROOT / "tests").rglob("test_*.py")]
    orphans = [
        str(t) for t in tests
        if t.parts[0] not in CROSS_CUTTING and not (PACKAGE / t.parent / t.name.removeprefix("test_")).exists()
    ]  # fmt: skip
    assert orphans == []


def test_no_runtime_module_outgrows_one_sitting() -> None:
    long = {str(m): n for m in modules() if (n := len((PACKAGE / m).read_text().splitlines())) > MAX_LINES}
    assert long == {}
