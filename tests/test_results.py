"""docs/results/ is what `rdrop report` writes from the committed evidence store, nothing else."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from itertools import pairwise
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


FIGURE = re.compile(r"(?<![\w.])[+-]?\d+\.\d{2,4}(?!\d)×?")


def _quoted_numbers(text: str) -> set[str]:
    """Whole figures a text quotes: 0.6242, +0.0150, -0.0075 and ratios like 1.56×; not the
    digits inside a longer number (0.0253 is not quoted by 0.02534 or 10.0253)."""
    return set(FIGURE.findall(text))


def _in_tables(figure: str, tables: set[str]) -> bool:
    """A figure is in the tables with its sign ('+' optional on either side) or, unsigned, as a
    size (a loss "of 0.0139" for -0.0139); a ratio may be quoted without its × ("1.83 times")."""
    bare = figure.lstrip("+")
    signs = ("", "-") if bare[0].isdigit() else ("",)
    return any(sign + bare + unit in tables for sign in signs for unit in ("", "×"))


def _written_and_generated() -> tuple[str, str, str]:
    """The conclusions, README's results summary, and the generated part of the report."""
    report = (RESULTS / "report.md").read_text(encoding="utf-8")
    preface = (RESULTS / "conclusions.md").read_text(encoding="utf-8").strip()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    summary = readme[readme.index("## Results") :].split("\n## ", 1)[0]
    return preface, summary, report.replace(preface, "")


def test_every_figure_of_the_conclusions_and_the_readme_summary_is_in_the_tables() -> None:
    preface, summary, generated = _written_and_generated()
    tables = _quoted_numbers(generated)
    tables |= {figure.lstrip("+") for figure in tables}
    quoted = _quoted_numbers(preface) | _quoted_numbers(summary)
    assert quoted, "the summaries quote no figures"
    missing = sorted(n for n in quoted if not _in_tables(n, tables))
    assert not missing, f"figures not found in the generated report: {missing}"


# the method names the conclusions write, and the arms of the report they stand for
PROSE_ARMS = {
    "R-Drop": "rdrop", "MixUp": "mixup", "Manifold-MixUp": "manifold_mixup", "FGM": "fgm",
    "PGD": "pgd", "FreeLB": "freelb", "R-Drop + FGM": "rdrop+fgm",
}  # fmt: skip
# a method named with its difference: "FGM +0.0087" or "R-Drop (-0.0023)"; not a pair of
# differences given in the order of a list of names ("MixUp and Manifold-MixUp (+0.0052 and ...")
# the methods' names, longest first ("R-Drop + FGM" before "R-Drop"), as one alternation
METHOD_NAMES = "|".join(re.escape(name) for name in sorted(PROSE_ARMS, key=len)[::-1])
NAMED_DIFFERENCE = re.compile(
    r"(?<![\w-])(" + METHOD_NAMES + r") \(?([+-]\d+\.\d{4})(?!\d)(?! and | to )"
)


def _prose(preface: str, summary: str) -> str:
    """The conclusions and the README summary without their tables, on one line."""
    lines = (line for line in f"{preface}\n{summary}".splitlines() if not line.startswith("|"))
    return re.sub(r"\s+", " ", " ".join(lines))


# a signed difference the prose quotes with its p: "+0.0044, p = 0.025" or "+0.0087 (p = 0.151)"
QUOTED_PAIR = re.compile(r"(?<![\w.])([+-]\d+\.\d{4})(?:, | \()p = (\d\.\d{3})(?!\d)")


def test_each_difference_the_prose_quotes_with_its_p_is_one_row_of_the_tables() -> None:
    """A 4-decimal difference alone recurs across hundreds of tables; with its p it names one
    row, so a difference or a p copied from the wrong row fails here."""
    preface, summary, generated = _written_and_generated()
    rows = [_cells(line) for line in generated.splitlines() if line.startswith("|")]
    measured = {
        (left, right) for cells in rows for left, right in pairwise(cells)
        if re.fullmatch(r"[+-]\d+\.\d{4}", left) and re.fullmatch(r"\d\.\d{3}", right)
    }  # fmt: skip
    quoted = QUOTED_PAIR.findall(_prose(preface, summary))
    assert len(quoted) >= 50, quoted
    missing = sorted(set(quoted) - measured)
    assert not missing, f"difference and p not in one row of the generated tables: {missing}"


def test_each_difference_the_prose_gives_a_method_is_in_a_row_of_that_method() -> None:
    """A difference quoted without its p ("FGM +0.0087") must stand in a generated row of the
    method it is given to, so that a difference moved to the wrong method fails here."""
    preface, summary, generated = _written_and_generated()
    rows = [_cells(line) for line in generated.splitlines() if line.startswith("|")]
    measured = {
        (cells[0], cell) for cells in rows for cell in cells[1:]
        if re.fullmatch(r"[+-]\d+\.\d{4}", cell)
    }  # fmt: skip
    quoted = NAMED_DIFFERENCE.findall(_prose(preface, summary))
    assert len(quoted) >= 20, quoted
    missing = sorted((name, d) for name, d in set(quoted) if (PROSE_ARMS[name], d) not in measured)
    assert not missing, f"difference not in a generated row of the method named: {missing}"


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("**", "") for cell in line.strip().strip("|").split("|")]


@dataclass
class Generated:
    """What the generated sections of the studies in $STUDIES measured, read from report.md."""

    gates: dict = field(default_factory=dict)  # (task, K) -> {(reference mean, verdict)}
    arms: dict = field(default_factory=dict)  # (task, K, arm) -> {(mean, Δ, t-test p)}
    variants: dict = field(default_factory=dict)  # (study, arm, against) -> {task: (Δ, p)}
    costs: dict = field(default_factory=dict)  # (study, arm) -> time vs `none`
    groups: dict = field(default_factory=dict)  # study -> {(task, K)} of its sections


def _generated() -> Generated:
    report = (RESULTS / "report.md").read_text(encoding="utf-8")
    studies, study, group, found = set(_studies("STUDIES")), None, None, Generated()
    for line in report.splitlines():
        if line.startswith("## "):
            study, group = line[3:].strip(), None
        elif line.startswith("### "):
            heading = re.match(r"### (\S+), K = (\S+)", line)
            group = heading.groups() if heading else None
            if group and study in studies:
                found.groups.setdefault(study, set()).add(group)
        elif study in studies and line.startswith("|"):
            cells = _cells(line)
            if len(cells) == 9 and cells[2].startswith("`"):  # a row of "Did the models learn?"
                found.gates.setdefault((cells[0], cells[1]), set()).add((cells[4], cells[8]))
            elif group and len(cells) == 7 and cells[1].isdigit():  # an arm of a group
                mean = cells[2].split(" ± ")[0]
                found.arms.setdefault((*group, cells[0]), set()).add((mean, *cells[4:6]))
            elif len(cells) == 8 and cells[4].isdigit():  # task | K | arm | against | n | Δ | p
                row = found.variants.setdefault((study, cells[2], cells[3]), {})
                row[cells[0]] = tuple(cells[5:7])
            elif len(cells) == 6 and cells[1].isdigit() and cells[4].endswith("×"):  # cost
                found.costs[(study, cells[0])] = cells[4]
    return found


def test_each_difference_a_few_shot_bullet_gives_a_method_is_from_a_study_it_names() -> None:
    """Per task, not only per method: each bullet of the few-shot section names its studies,
    and a difference it gives a method must be that method's in one of those studies' groups
    (a difference copied from the same method on another task passes the check above)."""
    section = _conclusions_section("### Few-shot")
    found, checked = _generated(), 0
    for bullet in section.split("\n- ")[1:]:
        prose = _prose(bullet, "")
        named = {s for s in re.findall(r"`([\w-]+)`", prose) if s in found.groups}
        groups = set().union(*(found.groups[s] for s in named))
        for sentence in re.split(r"(?<=\.) (?=[A-Z*])", prose):
            sets = {prefix for word, prefix in DATA_SET_WORDS if re.search(word, sentence)}
            here = {(task, k) for task, k in groups if not sets or task.startswith(tuple(sets))}
            for name, delta in NAMED_DIFFERENCE.findall(sentence):
                rows = {
                    (task, k) for (task, k) in here
                    for _, d, _ in found.arms.get((task, k, PROSE_ARMS[name]), ())
                    if d == delta
                }  # fmt: skip
                assert rows, (name, delta, sorted(named), sorted(sets), sentence[:80])
                checked += 1
    assert checked >= 20, checked


# how the few-shot bullets name a data set, and the prefix of its tasks' names; a sentence that
# names some is checked against their tasks only (one on MR and tweets names each in turn)
DATA_SET_WORDS = (
    (r"\bMR\b", "mr-"), (r"\btweets\b", "tweets-"), (r"\bBBC\b", "bbc-"),
    (r"\buncertainty\b", "uncertainty-"), (r"\bWSJ\b|\btagger\b", "wsj-pos-"),
    (r"\bdigits\b|\bimage tasks\b", "digits-"),
    (r"\bFashion-MNIST\b|\bimage tasks\b", "fashion-mnist-"),
    (r"\breviews\b|\bbackbone\b", "reviews-zh-"),
)  # fmt: skip


def _conclusions_section(heading: str) -> str:
    """The conclusions from the heading that starts with ``heading`` to the next heading."""
    preface = (RESULTS / "conclusions.md").read_text(encoding="utf-8")
    return preface[preface.index(heading) :].split("\n### ")[0]


def _conclusions_table(heading: str) -> list[list[str]]:
    """The cells of the rows of the first table after the conclusions' heading ``heading``."""
    blocks = _conclusions_section(heading).split("\n\n")
    table = next(block for block in blocks if block.startswith("|"))
    return [_cells(line) for line in table.splitlines()[2:]]


def test_each_row_of_the_few_shot_table_is_what_its_studies_measured() -> None:
    found = _generated()
    gates, arms = found.gates, found.arms
    rows = _conclusions_table("### Few-shot")
    assert len(rows) >= 10, rows
    for task, k, reference, none, rdrop, rdrop_delta, other in rows:
        task = task.split(" (")[0]
        assert (reference, "learned") in gates[(task, k)], (task, k, reference, gates[(task, k)])
        assert none in {mean for mean, _, _ in arms[(task, k, "none")]}, (task, k, none)
        delta, p = rdrop_delta.split(", ")
        assert (rdrop, delta, p) in arms[(task, k, "rdrop")], (task, k, rdrop, delta, p)
        others = {
            arm: runs for (t, kk, arm), runs in arms.items()
            if (t, kk) == (task, k) and arm in set(PROSE_ARMS.values()) - {"rdrop"}
        }  # fmt: skip
        if other == "not run yet":
            assert not others, (task, k, sorted(others))
            continue
        name, delta, p = re.fullmatch(r"(.+) ([+-]\d\.\d{4}), (\d\.\d{3})", other).groups()
        assert (delta, p) in {(d, q) for _, d, q in others[PROSE_ARMS[name]]}, (task, k, other)
        best = max(float(d) for runs in others.values() for _, d, _ in runs)
        assert float(delta) == best, (task, k, other, best)


def _rdrop_cell(cell: str) -> tuple[str, str | None, tuple[str, str] | None] | None:
    """'0.9682 at 9.6: -0.0139, p = 0.030' -> ('0.9682', '9.6', ('-0.0139', '0.030')); a mean
    alone ('0.6352 at 16') has no difference; a cell of words (no run) gives None."""
    found = re.fullmatch(
        r"(\d+\.\d{4})(?: at ([\d.]+))?(?:: ([+-]\d+\.\d{4}), p = (\d\.\d{3}))?", cell
    )
    if not found:
        return None
    mean, alpha, delta, p = found.groups()
    return mean, alpha, (delta, p) if delta else None


def test_each_row_of_the_full_data_table_is_what_its_studies_measured() -> None:
    found = _generated()
    gates, arms = found.gates, found.arms
    rows = _conclusions_table("### A whole training split")
    assert len(rows) >= 6, rows
    for task, reference, none, *rdrop_cells in rows:
        verdict = "did not learn" if "(did not learn)" in none else "learned"
        task = task.split(" (")[0]
        reference, none = reference.split(" (")[0], none.split(" (")[0]
        assert (reference, verdict) in gates[(task, "full")], (task, reference, verdict)
        assert none in {mean for mean, _, _ in arms[(task, "full", "none")]}, (task, none)
        rdrop = {arm: runs for (t, k, arm), runs in arms.items()
                 if (t, k) == (task, "full") and arm.startswith("rdrop")}  # fmt: skip
        for cell in rdrop_cells:
            parsed = _rdrop_cell(cell)
            if parsed is None:
                assert cell != "not run" or not rdrop, (task, cell, sorted(rdrop))
                continue
            mean, alpha, difference = parsed
            runs = rdrop[f"rdrop alpha={alpha}"] if alpha else set().union(*rdrop.values())
            seen = {(m, (d, p)) for m, d, p in runs}
            means = {m for m, _ in seen}
            assert (mean, difference) in seen or (not difference and mean in means), (task, cell)


def test_the_cost_table_of_the_conclusions_is_what_its_study_measured() -> None:
    preface = (RESULTS / "conclusions.md").read_text(encoding="utf-8")
    study = re.search(
        r"### Cost\s+Training time relative to `none`, from study `([\w-]+)`", preface
    )
    costs = _generated().costs
    generated = {arm: ratio for (name, arm), ratio in costs.items() if name == study.group(1)}
    rows = _conclusions_table("### Cost")
    assert len(rows) == len(generated) - 1, (rows, generated)  # every arm but `none`
    for method, ratio in rows:
        assert generated[PROSE_ARMS[method]] == ratio, (method, ratio, generated)


# a cost the prose gives, as "FreeLB 2.13×" or "1.61×", and the study named after it
COST = re.compile(r"(?:(" + METHOD_NAMES + r") )?(\d\.\d\d)×")
NAMED_STUDIES = re.compile(r"\((?:study|studies) ((?:`[\w-]+`(?:, and |, | and )?)+)\)")


def test_each_cost_the_cost_prose_gives_is_from_the_study_it_names() -> None:
    """The paragraph under the cost table quotes some 45 ratios, each followed by the study it
    comes from: each must be a time ratio of that study's cost table (of the method named, when
    one is), not merely a figure found somewhere in the report."""
    prose = _prose(_conclusions_section("### Cost"), "")
    costs = _generated().costs
    checked, start = 0, 0
    for named in NAMED_STUDIES.finditer(prose):
        studies = re.findall(r"`([\w-]+)`", named.group(1))
        for method, ratio in COST.findall(prose[start : named.start()]):
            arms = {
                arm for (study, arm), r in costs.items()
                if study in studies and r == f"{ratio}×"
            }  # fmt: skip
            assert arms, (ratio, studies)
            if method:
                key = PROSE_ARMS[method]
                assert any(arm == key or arm.startswith(f"{key} ") for arm in arms), (
                    method, ratio, studies, arms,
                )  # fmt: skip
            checked += 1
        start = named.end()
    assert checked >= 40, checked


def test_each_row_of_the_variants_table_is_one_arm_of_a_variant_study() -> None:
    found = _generated()
    variants, costs = found.variants, found.costs
    rows = _conclusions_table("### Semi-supervised R-Drop and R-Drop's variants")
    assert len(rows) >= 5, rows
    for setting, digits, fashion, time in rows:
        measured = {
            (study, arm, against) for (study, arm, against), by_task in variants.items()
            if by_task.get("digits-mlp") == tuple(digits.split(", "))
            and by_task.get("fashion-mnist-cnn") == tuple(fashion.split(", "))
        }  # fmt: skip
        assert len(measured) == 1, (setting, digits, fashion, measured)
        ((study, arm, against),) = measured
        assert time == f"{costs[(study, arm)]} ({costs[(study, against)]})", (setting, time)
