"""What the web UI reads from the library (`PaperAssistant` and `answer/compare.py`), so the
UI holds no library logic: the index generation (is a page stale?), filter counts, the
corpus list search, one paper by id, the papers behind each compare column (and the
other papers to choose from), and error messages that name no `papers` command (the UI
shows them too). A small made-up library on the FAKE embedder: nothing here judges ranking."""

from __future__ import annotations

import re

import pytest

from assistant.answer import compare as C
from assistant.records import Paper, paper_id
from assistant.retrieve import QueryError
from fake_embedder import fake_model_env

# A CLI command named to the user: `papers ...` or "papers search" and the like.
CLI_COMMAND = re.compile(r"`papers|\bpapers (ingest|search|compare|ask|status|serve|chat)\b")


def row(title: str, abstract: str, authors: list[str], year: int | None, category: str = "LG") -> dict:
    data = {"title": title, "abstract": abstract, "authors": authors, "category": category}
    if year is not None:
        data["year"] = year
    return data


# Zephyr: one paper is named after it, two more name it in their abstracts (a second
# "Zephyr" paper to choose). "lattice models": a whole-title match, an all-words title
# match and an abstract-only match, dated so that year order alone would invert them.
ROWS = [
    row(
        "Zephyr: Fast Sparse Training of Deep Networks",
        "Zephyr trains sparse networks quickly. We propose Zephyr, which prunes weights during training. "
        "Experiments show Zephyr improves accuracy.",
        ["Alice Marten", "Bo Chen"],
        2021,
    ),
    row(
        "Momentum Schedules for Sparse Optimisation",
        "Existing sparse optimisers such as Zephyr suffer from unstable updates. We propose extending Zephyr with a "
        "momentum schedule. Results improve on image benchmarks.",
        ["Carla Ruiz"],
        2024,
    ),
    row(
        "A Survey of Pruning Methods",
        "We review pruning methods, including Zephyr and magnitude pruning. Many methods remain costly.",
        ["Evan Holt"],
        None,
    ),
    row(
        "Quasar: Second-Order Pruning at Scale",
        "Quasar approximates the Hessian to prune large models. We propose Quasar, which uses a low-rank "
        "estimate. Quasar outperforms magnitude pruning.",
        ["Fatima Noor"],
        2023,
    ),
    row("Lattice Models in Vision", "We study structured priors for image recognition.", ["Gil Amar"], 2020),
    row(
        "Models of a Lattice Gas", "Statistical physics of particles on a grid, simulated at scale.", ["Hana Ito"], 2024
    ),
    row(
        "Perovskite Solar Cells Revisited",
        "Thin films are measured; lattice models explain the perovskite defects.",
        ["Ivo Petrov"],
        2025,
    ),
    row("Graph Networks for Molecules", "Message passing predicts molecular properties.", ["Dana Okafor"], None, "CV"),
]
ZEPHYR, MOMENTUM, SURVEY, QUASAR = (paper_id(r["title"]) for r in ROWS[:4])


@pytest.fixture
def lib(tmp_path, make_assistant, write_jsonl):
    """(assistant, source file) over ROWS; abstention fixed, so no calibration runs."""
    source = write_jsonl(tmp_path / "src" / "lib.jsonl", ROWS)
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    pa.ingest([source])
    return pa, source


# --- generation --------------------------------------------------------------------------------


def test_generation_grows_with_each_committed_ingest_only(tmp_path, make_assistant, write_jsonl):
    pa = make_assistant(tmp_path / "idx", abstain_threshold=0.25)
    assert pa.generation == 0  # nothing indexed yet
    source = write_jsonl(tmp_path / "src" / "lib.jsonl", ROWS[:4])
    pa.ingest([source])
    first, version = pa.generation, pa.version
    assert first > 0 and version.startswith(f"{first}@")
    _, update = pa.ingest([source])  # the same file again: nothing to commit
    assert not update.index.committed and pa.generation == first and pa.version == version
    write_jsonl(source, ROWS[:5])
    pa.ingest([source])
    assert pa.generation > first and pa.version != version  # what the UI's pages compare
    # Another assistant on the same folder reads the same committed generation.
    assert make_assistant(tmp_path / "idx", abstain_threshold=0.25).generation == pa.generation


# --- count_matching ----------------------------------------------------------------------------


def test_count_matching_counts_the_year_filter_and_the_papers_without_a_year(lib):
    pa, _ = lib
    dated = sum(1 for r in ROWS if r.get("year", 0) >= 2023)
    undated = sum(1 for r in ROWS if "year" not in r)
    assert dated and undated and dated + undated < len(ROWS)
    assert pa.count_matching({"year_from": 2023}) == {
        "matching": dated,
        "total": len(ROWS),
        "excluded": {"year": undated},
    }
    assert pa.count_matching({"year_from": 2023, "include_unknown": True}) == {
        "matching": dated + undated,
        "total": len(ROWS),
        "excluded": {},
    }
    assert pa.count_matching(None) == {"matching": len(ROWS), "total": len(ROWS), "excluded": {}}
    cv = sum(1 for r in ROWS if r["category"] == "CV")
    assert pa.count_matching({"category": "cv"})["matching"] == cv


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"colour": "red"}, "unknown filter.*colour"),
        ({"year_from": "soon"}, "year_from"),
        ({"year_from": 2024, "year_to": 2020}, "year range is empty"),
    ],
)
def test_count_matching_refuses_bad_filters(lib, filters, message):
    pa, _ = lib
    with pytest.raises(QueryError, match=message):
        pa.count_matching(filters)


# --- the corpus list ---------------------------------------------------------------------------


def titles(papers: list[Paper]) -> list[str]:
    return [p.title for p in papers]


def test_find_papers_matches_authors_and_abstract_words(lib):
    pa, _ = lib
    found, total = pa.find_papers("OKAFOR")  # an author's name, in no title or abstract
    assert titles(found) == ["Graph Networks for Molecules"] and total == 1
    found, total = pa.find_papers("message okafor")  # words from the abstract and the authors together
    assert titles(found) == ["Graph Networks for Molecules"] and total == 1
    found, total = pa.find_papers("perovskite defects")
    assert titles(found) == ["Perovskite Solar Cells Revisited"] and total == 1
    assert pa.find_papers("okafor zephyr") == ([], 0)  # every word must occur in the one paper


def test_find_papers_orders_title_matches_first(lib):
    pa, _ = lib
    # Whole query in the title (2020), every word in the title (2024), abstract only (2025).
    expected = ["Lattice Models in Vision", "Models of a Lattice Gas", "Perovskite Solar Cells Revisited"]
    found, total = pa.find_papers("lattice models")
    assert titles(found) == expected and total == 3
    assert titles(pa.find_papers("  LATTICE \n  Models ")[0]) == expected  # case and spacing aside
    found, total = pa.find_papers("lattice models", limit=2)
    assert titles(found) == expected[:2] and total == 3


def test_find_papers_without_a_query_lists_all_newest_first(lib):
    pa, _ = lib
    expected = [r["title"] for r in sorted(ROWS, key=lambda r: (-r.get("year", 0), r["title"].lower()))]
    found, total = pa.find_papers("")
    assert titles(found) == expected and total == len(ROWS)
    assert titles(pa.find_papers("   ", limit=3)[0]) == expected[:3]


def test_paper_by_id(lib):
    pa, _ = lib
    assert pa.paper(QUASAR).title == ROWS[3]["title"]
    with pytest.raises(QueryError, match="no-such-paper"):
        pa.paper("no-such-paper")


# --- compare: which papers stand behind a column ------------------------------------------------


def test_compare_lists_the_other_papers_naming_a_method(lib):
    pa, _ = lib
    table = pa.compare(["Zephyr", "Quasar"])
    used = {m: {table.sources[n - 1].paper.id for n in ns} for m, ns in table.papers.items()}
    assert used == {"Zephyr": {ZEPHYR}, "Quasar": {QUASAR}}
    assert {p.id for p in table.candidates["Zephyr"]} == {MOMENTUM, SURVEY}  # they name it; not used
    assert table.candidates["Quasar"] == []  # no other paper names Quasar
    assert table.to_dict()["candidates"]["Zephyr"] == [
        {"id": p.id, "title": p.title} for p in table.candidates["Zephyr"]
    ]


def test_compare_uses_the_chosen_papers_under_the_method_name(lib):
    pa, _ = lib
    table = pa.compare(["Zephyr", "Quasar"], chosen={"zephyr": [MOMENTUM]})  # key: the method, case aside
    assert table.methods == ["Zephyr", "Quasar"]
    assert [table.sources[n - 1].paper.id for n in table.papers["Zephyr"]] == [MOMENTUM]
    assert {p.id for p in table.candidates["Zephyr"]} == {ZEPHYR, SURVEY}  # the one found is offered back
    approach = table.cells["Approach"]["Zephyr"]
    assert "momentum" in approach.text.lower()
    cited = {c.paper_id for row in table.rows for c in table.cells[row]["Zephyr"].citations}
    assert cited == {MOMENTUM}
    # Two chosen papers, and a chosen paper that names nothing of the method, are taken as given.
    table = pa.compare(["Zephyr", "Quasar"], chosen={"Zephyr": [SURVEY, ZEPHYR], "Quasar": [ZEPHYR]})
    assert [table.sources[n - 1].paper.id for n in table.papers["Zephyr"]] == [SURVEY, ZEPHYR]
    assert [table.sources[n - 1].paper.id for n in table.papers["Quasar"]] == [ZEPHYR]


def test_compare_refuses_unknown_chosen_ids_and_methods(lib):
    pa, _ = lib
    with pytest.raises(QueryError, match="no indexed paper has the id 'nope-123'.*Zephyr"):
        pa.compare(["Zephyr", "Quasar"], chosen={"Zephyr": [MOMENTUM, "nope-123"]})
    with pytest.raises(QueryError, match="'Nebula' is not one of the methods compared"):
        pa.compare(["Zephyr", "Quasar"], chosen={"Nebula": [MOMENTUM]})


# --- messages a web page shows too ---------------------------------------------------------------


def test_compare_messages_name_no_cli_command_and_state_the_limit(lib):
    pa, _ = lib
    messages = []
    for methods in (["Zephyr"], [f"m{i}" for i in range(C.MAX_METHODS + 1)], ["Zorblax", "Quuxformer"]):
        with pytest.raises(QueryError) as err:
            pa.compare(methods)
        messages.append(str(err.value))
    few, many, unknown = messages
    assert "at least two methods" in few and "ADAHESSIAN and M-FAC" in few
    assert f"at most {C.MAX_METHODS} methods" in many and f"got {C.MAX_METHODS + 1}" in many
    assert "check the spelling or search the papers" in unknown
    for message in messages:
        assert not CLI_COMMAND.search(message), message
    assert C.parse_methods([f"m{i}" for i in range(C.MAX_METHODS)])  # the limit itself is allowed


def test_empty_index_message_names_no_cli_command(tmp_path, make_assistant):
    pa = make_assistant(tmp_path / "idx")
    with pytest.raises(QueryError, match="is empty; add papers to it first") as err:
        pa.search("sparse training")
    assert not CLI_COMMAND.search(str(err.value))


def test_the_cli_still_says_how_to_find_a_method_name(lib, papers_main, llm_server):
    pa, _ = lib
    proc = papers_main(
        "compare", "Zorblax", "Quuxformer", "--index-dir", pa.settings.index_dir, env=fake_model_env(llm_server)
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: no indexed abstract mentions Zorblax")
    assert "`papers search NAME`" in proc.stderr
