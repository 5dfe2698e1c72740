"""docs/results/ is what `rdrop report` writes from the committed evidence store, nothing else."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from torch_rdrop.bench.engine.store import open_storage, storage_url
from torch_rdrop.bench.report.book import load_section, write_book

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
STORE = RESULTS / "evidence.db"

pytestmark = pytest.mark.skipif(not STORE.exists(), reason="no evidence store in this checkout")


def _studies(*names: str) -> list[str]:
    """The studies that evidence.sh lists in the variables ``names`` (by default, every study of
    the report, in its order)."""
    script = (ROOT / "benchmarks" / "evidence.sh").read_text()
    names = names or ("STUDIES", "RECIPES", "ALPHAS", "DIAGNOSTICS", "APPENDIX")
    found = [re.search(rf"^{name}=(\S+)$", script, re.M).group(1).split(",") for name in names]
    return [study for group in found for study in group]


def test_the_report_is_regenerated_exactly_from_the_store(tmp_path: Path) -> None:
    committed = (RESULTS / "report.md").read_text(encoding="utf-8")
    title = committed.splitlines()[0].removeprefix("# ")
    command = next(line for line in committed.splitlines() if line.startswith("rdrop report "))
    preface = (RESULTS / "conclusions.md").read_text(encoding="utf-8")
    store = open_storage(storage_url(str(STORE)))
    sections = [load_section(store, name) for name in _studies()]
    appendix = (RESULTS / "appendix.md").read_text(encoding="utf-8").strip()
    write_book(
        sections, tmp_path, title, preface, command,
        appendix=_studies("APPENDIX"), appendix_note=appendix,
    )  # fmt: skip
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == committed
    assert (tmp_path / "runs.csv").read_text() == (RESULTS / "runs.csv").read_text()
    for line in committed.splitlines():  # every plot it shows is committed
        for name in re.findall(r"\]\(([\w.-]+\.png)\)", line):
            assert (RESULTS / name).stat().st_size > 1000, name


def test_every_grid_point_of_the_evidence_has_five_seeds_or_says_otherwise() -> None:
    with (RESULTS / "runs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    studies = set(_studies("STUDIES"))
    main = [r for r in rows if r["study"].startswith("main") or r["study"] in studies]
    seeds: dict[tuple[str, str], set[str]] = {}
    for row in main:
        seeds.setdefault((row["task"], row["method"]), set()).add(row["seed"])
    assert seeds and all(len(s) >= 5 for s in seeds.values()), seeds


def _quoted_numbers(text: str) -> set[str]:
    """Figures a summary quotes: 0.6242, +0.0150, -0.0075 and ratios like 1.56x."""
    return set(re.findall(r"[+-]?\d+\.\d{2,4}×?", text))


def test_every_figure_of_the_conclusions_and_the_readme_summary_is_in_the_tables() -> None:
    report = (RESULTS / "report.md").read_text(encoding="utf-8")
    preface = (RESULTS / "conclusions.md").read_text(encoding="utf-8").strip()
    tables = report.replace(preface, "")  # the generated part alone
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    summary = readme[readme.index("## Results") :].split("\n## ", 1)[0]
    quoted = _quoted_numbers(preface) | _quoted_numbers(summary)
    assert quoted, "the summaries quote no figures"
    missing = sorted(n for n in quoted if n not in tables and n.lstrip("+") not in tables)
    assert not missing, f"figures not found in the generated report: {missing}"
