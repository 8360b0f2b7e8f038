"""The five bundled pages parse into the papers they hold.

Counts per page, exact titles (no author names glued on, no `Subscribe`),
whole abstracts, and the metadata each layout carries are pinned on real
entries, including the hard ones: titles ending in `?`, `!` or an acronym,
missing years, `Code` markers, middle initials, trailing counts after dates.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import pytest

from assistant.ingest import ingest_file, ingest_paths
from assistant.ingest.arxiv_listing import split_title_authors
from assistant.records import Paper, paper_id

ARXIV = "000_7b93b8b2ecf15c87.txt"
DAILY = "001_31d6d93f2181969b.txt"
SEARCH_A = "002_155326858a143be8.txt"
SEARCH_B = "003_c57c8a65d8544d02.txt"
PROFILE = "004_ba3c4bcb233d5406.txt"

EXPECTED = {  # file: (format, entries before merging)
    ARXIV: ("arxiv-listing", 39),
    DAILY: ("daily-papers", 85),
    SEARCH_A: ("paper-search", 213),
    SEARCH_B: ("paper-search", 320),
    PROFILE: ("profile", 82),
}


@pytest.fixture(scope="module")
def reports(corpus_dir: Path):
    return {name: ingest_file(corpus_dir / name) for name in EXPECTED}


@pytest.fixture(scope="module")
def raw_lines(corpus_dir: Path):
    return {name: (corpus_dir / name).read_text(encoding="utf-8").splitlines() for name in EXPECTED}


def squash(text: str) -> str:
    return " ".join(text.split())


def clean_text(text: str) -> str:
    return html.unescape(squash(text))


def find(papers: list[Paper], title: str) -> Paper:
    """The one paper with exactly this title (the lookup itself pins the title)."""
    found = [p for p in papers if p.title == title]
    if len(found) != 1:
        near = [p.title for p in papers if p.title[:20].lower() == title[:20].lower()]
        pytest.fail(f"{len(found)} papers titled {title!r}; similar: {near}")
    return found[0]


# --- counts and formats -------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_page_yields_expected_number_of_entries(reports, name):
    report = reports[name]
    fmt, count = EXPECTED[name]
    assert report.error is None
    assert report.format == fmt
    assert report.records == count
    assert report.skipped == []
    assert report.warnings == []
    # Labels are project-relative, so the corpus reads the same on every machine.
    assert {s.file for p in report.papers for s in p.sources} == {f"indexes/sources/{name}"}
    assert [p.sources[0].entry for p in report.papers] == list(range(1, count + 1))


def test_merged_corpus_counts(corpus_dir):
    result = ingest_paths([corpus_dir])
    assert [Path(f.file).name for f in result.files] == list(EXPECTED)  # README.md is not ingested
    assert sum(f.records for f in result.files) == 739
    assert result.merged == 16
    assert len(result.papers) == 723
    assert len({p.id for p in result.papers}) == 723
    assert result.merged_by_file == {
        f"indexes/sources/{ARXIV}": 0, f"indexes/sources/{DAILY}": 0, f"indexes/sources/{SEARCH_A}": 8,
        f"indexes/sources/{SEARCH_B}": 6, f"indexes/sources/{PROFILE}": 2}
    assert result.ok and result.errors == []


# --- every record, checked against the raw text ------------------------------


def test_arxiv_title_line_is_exactly_title_plus_authors(reports, raw_lines):
    """Rebuilding the glued title+authors line from the parsed fields gives the
    raw line back: nothing of the title went to the authors or vice versa."""
    lines = raw_lines[ARXIV]
    for p in reports[ARXIV].papers:
        line = p.sources[0].line  # the "<CAT><date>[Code]" line
        assert lines[line - 1].startswith(p.category)
        rebuilt = p.title + ", ".join(p.authors) + (" et al." if p.authors_et_al else "")
        if p.affiliations:
            rebuilt += " · " + ", ".join(p.affiliations)
        assert rebuilt == lines[line], p.title
        assert lines[line - 1].endswith("Code") == p.has_code
        assert p.abstract == squash(lines[line + 1])
        assert 2 <= len(p.authors) <= 3


def test_paper_search_titles_and_abstracts_are_whole_lines(reports, raw_lines):
    for name in (SEARCH_A, SEARCH_B):
        lines = raw_lines[name]
        for p in reports[name].papers:
            line = p.sources[0].line
            expected_title = lines[line - 1].removeprefix("Subscribe") if line == 3 else lines[line - 1]
            assert p.title == expected_title.strip()
            assert p.abstract == squash(lines[line])
            assert "Subscribe" not in p.title


def test_daily_papers_entries_match_raw_paragraphs(reports, raw_lines):
    lines = raw_lines[DAILY]
    for p in reports[DAILY].papers:
        line = p.sources[0].line  # title line; blank; abstract; blank; "• N authors"
        assert p.title == lines[line - 1]
        assert lines[line] == ""
        assert p.abstract == squash(lines[line + 1])
        n = p.author_count
        assert lines[line + 3].strip() == f"• {n} authors"


def test_profile_entries_match_raw_paragraphs(reports, raw_lines):
    lines = raw_lines[PROFILE]
    for p in reports[PROFILE].papers:
        line = p.sources[0].line  # marker; blank; title; blank; abstract
        assert lines[line - 3] == f"preprint{p.year}arXiv"
        assert p.title == clean_text(lines[line - 1])
        assert p.abstract == clean_text(lines[line + 1])
        assert p.venue == "arXiv"
    # The page's HTML character references (&#34; &#39;) are decoded.
    assert sum('"' in p.abstract for p in reports[PROFILE].papers) >= 10
    assert not [p.title for p in reports[PROFILE].papers if "&#" in p.abstract + p.title]


def test_no_navigation_or_header_text_becomes_a_paper(reports):
    titles = {p.title for r in reports.values() for p in r.papers}
    for noise in ("Daily Papers", "Subscribe", "Nov 20", "Published work", "Zhangyang Wang", "Researcher profile",
                  "82 published item(s)", "Get trending papers in your email inbox!"):
        assert noise not in titles
    assert not [t for t in titles if t.startswith("Subscribe") or " et al." in t or " · " in t]


# --- pinned real entries ------------------------------------------------------

# (file, exact title, expected fields, abstract beginning, abstract ending)
PINNED = [
    # arXiv-style listing
    (ARXIV, "Understanding Edge-of-Stability Training Dynamics with a Minimalist Example",
     dict(authors=["Xingyu Zhu", "Zixuan Wang", "Xiang Wang"], authors_et_al=True, affiliations=["princeton", "uw"],
          category="LG", date="2022-10-07", year=2022, has_code=False, line=1, entry=1),
     "Recently, researchers observed that gradient descent for deep neural networks operates",
     "which was also observed in the training of neural nets."),
    (ARXIV, "Enhancing Adversarial Robustness for Deep Metric Learning",
     dict(authors=["Mo Zhou", "Vishal M. Patel"], authors_et_al=False, affiliations=[],
          category="LG", date="2022-03-02", year=2022, has_code=False, line=13),
     "Owing to security implications of adversarial vulnerability,",
     "training efficiency, as well as performance on benign examples."),
    (ARXIV, "V2X-Radar: A Multi-modal Dataset with 4D Radar for Cooperative Perception",
     dict(authors=["Lei Yang", "Xinyu Zhang", "Jun Li"], authors_et_al=True, category="CV",
          date="2024-11-17", year=2024, has_code=True, line=22, entry=8),
     "Modern autonomous vehicle perception systems often struggle with occlusions",
     "and https://github.com/yanglei18/V2X-Radar."),
    (ARXIV, "Multi-Perspective Evidence Synthesis and Reasoning for Unsupervised Multimodal Entity Linking",
     dict(authors=["Mo Zhou", "Jianwei Wang", "Kai Wang"], authors_et_al=True, category="CL",
          date="--04-22", year=None, has_code=False, line=40),  # "CLApr 22": no year on the page
     "Multimodal Entity Linking (MEL) is a fundamental task",
     "https://anonymous.4open.science/r/MSR-MEL-C21E/."),
    (ARXIV, "FlashForge: Ultra-Efficient Prefix-Aware Attention for LLM Decoding",
     dict(authors=["Zhibin Wang", "Rui Ning", "Chao Fang"], authors_et_al=True, category="LG", year=2025),
     "Prefix-sharing among multiple prompts presents opportunities",
     "3.8x end-to-end time per output token compared to the vLLM."),
    (ARXIV, "Chordless Structure: A Pathway to Simple and Expressive GNNs",  # acronym glued to "Hongxu"
     dict(authors=["Hongxu Pan", "Shuxian Hu", "Mo Zhou"], authors_et_al=True, category="LG",
          date="2025-05-25", year=2025),
     "Researchers have proposed various methods of incorporating more structured information",
     "better performance than the GNNs of 3-WL expressiveness."),
    (ARXIV, "Deployment Prior Injection for Run-time Calibratable Object Detection",
     dict(authors=["Mo Zhou", "Yiding Yang", "Haoxiang Li"], authors_et_al=True, affiliations=["bytedance"],
          category="CV", date="2024-02-27", year=2024),
     "With a strong alignment between the training and test distributions,",
     "demonstrate the effectiveness of the run-time calibratable detector."),
    (ARXIV, "PartStickers: Generating Parts of Objects for Rapid Prototyping",
     dict(authors=["Mo Zhou", "Josh Myers-Dean", "Danna Gurari"], authors_et_al=False, category="CV",
          date="2025-04-07", year=2025, has_code=True),
     "Design prototyping involves creating mockups of products",
     "progress on this new task: https://partsticker.github.io."),
    (ARXIV, "SGCN:Sparse Graph Convolution Network for Pedestrian Trajectory Prediction",
     dict(authors=["Liushuai Shi", "Le Wang", "Chengjiang Long"], authors_et_al=True, category="CV", year=2021),
     "Pedestrian trajectory prediction is a key technology in autopilot,",
     "between pedestrians and their effective motion tendencies."),
    (ARXIV, "T1: Scaling Diffusion Probabilistic Fields to High-Resolution on Unified Visual Modalities",
     dict(authors=["Kangfu Mei", "Mo Zhou", "Vishal M. Patel"], authors_et_al=False, category="CV",
          date="2023-05-24", year=2023),
     "Diffusion Probabilistic Field (DPF) models the distribution",
     "framework for scalable modality-unified visual content generation."),
    (ARXIV, "Towards Understanding the Importance of Noise in Training Neural Networks",
     dict(authors=["Mo Zhou", "Tianyi Liu", "Yan Li"], authors_et_al=True, category="LG",
          date="2019-09-07", year=2019, line=115, entry=39),
     "Numerous empirical evidence has corroborated",
     "Numerical experiments are provided to support our theory."),
    # daily papers: no author names, only a count; dates may lack the year
    (DAILY, "Locally Regularized Neural Differential Equations: Some Black Boxes Were Meant to Remain Closed!",
     dict(author_count=3, authors=[], date="2023-03-03", year=2023, line=13, entry=1),
     "Implicit layer deep learning techniques, like Neural Differential Equations,",
     "evaluations to 0.556-0.733x and accelerates predictions by 1.3-2x."),
    (DAILY, "Modality Alignment with Multi-scale Bilateral Attention for Multimodal Recommendation",
     dict(author_count=3, date="--09-10", year=None, line=37),  # "Sep 10 2": no year, trailing count
     "Multimodal recommendation systems are increasingly becoming foundational",
     "publicly available at https://github.com/rkl71/MambaRec."),
    (DAILY, "Rethinking Entropy Regularization in Large Reasoning Models",
     dict(author_count=6, date="--09-29", year=None),  # "Sep 29"
     "Reinforcement learning with verifiable rewards (RLVR)",
     "the premature convergence problem common in RLVR for LRM."),
    (DAILY, "Beyond LLaVA-HD: Diving into High-Resolution Large Multimodal Models",
     dict(author_count=7, date="2024-06-12", year=2024, line=301),  # "Jun 12, 2024 2"
     "Seeing clearly with high resolution is a foundation of Large Multimodal Models",
     "across various benchmarks with only 2 million training data."),
    (DAILY, "Variational Inference with Latent Space Quantization for Adversarial Resilience",
     dict(author_count=5, date="2019-03-24", year=2019),  # "Mar 24, 2019 2"
     "Despite their tremendous success in modelling high-dimensional data",
     "surpasses the state-of-the-art techniques in several cases."),
    (DAILY, "What's in a Prior? Learned Proximal Networks for Inverse Problems",
     dict(author_count=3, date="2023-10-22", year=2023),
     "Proximal operators are ubiquitous in inverse problems,",
     "provide a window into the resulting priors learned from data."),
    (DAILY, "Týr-the-Pruner: Structural Pruning LLMs via Global Sparsity Distribution Optimization",
     dict(author_count=7, date="--03-12", year=None),
     "Structural pruning enhances hardware-agnostic inference efficiency",
     "Code will be available at https://github.com/AMD-AGI/Tyr-the-Pruner."),
    (DAILY, "Rethinking Conventional Wisdom in Machine Learning: From Generalization to Scaling",
     dict(author_count=1, date="2024-09-23", year=2024),  # abstract itself ends in "?"
     "The remarkable success of large language pretraining",
     "at the scale where only a single experiment is feasible?"),
    (DAILY, "Editing 3D Scenes via Text Prompts without Retraining",
     dict(author_count=7, date="2023-09-09", year=2023, line=685, entry=85),
     "Numerous diffusion models have recently been applied to image synthesis",
     "The project website is available at https://sk-fun.fun/DN2N"),
    # paper-search pages: title line, abstract line; the first title is glued to "Subscribe"
    (SEARCH_A, "Hard Patches Mining for Masked Image Modeling",
     dict(line=3, entry=1, authors=[], year=None, date=None, category=None),
     "Masked image modeling (MIM) has attracted much research attention",
     "the ability to be aware of where is hard to reconstruct."),
    (SEARCH_A, "Can Forward Gradient Match Backpropagation?", dict(line=7, entry=3),
     "Forward Gradients - the idea of using directional derivatives",
     "drastically improves on random noise in Forward Gradient methods."),
    (SEARCH_A, "Is Fast Adaptation All You Need?", dict(line=9, entry=4),
     "Gradient-based meta-learning has proven to be highly effective",
     "than those learned by just maximizing fast adaptation."),
    (SEARCH_A, "Demystifying MMD GANs", dict(line=201, entry=100),
     "We investigate the training and performance of generative adversarial",
     "dynamically adapt learning rates during GAN training."),
    (SEARCH_A, "Designing BERT for Convolutional Networks: Sparse and Hierarchical Masked Modeling",
     dict(line=427, entry=213),
     "We identify and overcome two key obstacles in extending the success of BERT-style",
     "Codes and models are released at https://github.com/keyu-tian/SparK."),
    (SEARCH_B, "On Over-Squashing in Message Passing Neural Networks: The Impact of Width, Depth, and Topology",
     dict(line=3, entry=1),
     "Message Passing Neural Networks (MPNNs) are instances of Graph Neural Networks",
     "for a class of methods that fall under graph rewiring."),
    (SEARCH_B, "Minimal Width for Universal Property of Deep RNN", dict(line=29, entry=14),
     "A recurrent neural network (RNN) is a widely used deep-learning network",
     "can be an initial step toward further research on deep RNNs."),
    (SEARCH_B, "WL meet VC", dict(line=629, entry=314),
     "Recently, many works studied the expressive power of graph neural networks",
     "Our empirical study confirms the validity of our theoretical findings."),
    (SEARCH_B, "How Efficient Are Today's Continual Learning Algorithms?", dict(line=571),
     "Supervised Continual learning involves updating a deep neural network",
     "more to continual learning than mitigating catastrophic forgetting."),
    (SEARCH_B, "SwinLSTM:Improving Spatiotemporal Prediction Accuracy using Swin Transformer and LSTM",
     dict(line=399),
     "Integrating CNNs and RNNs to capture spatiotemporal dependencies",
     "publicly available at https://github.com/SongTang-x/SwinLSTM."),
    (SEARCH_B, "Graph Neural Network Training with Data Tiering", dict(line=641, entry=320),
     "Graph Neural Networks (GNNs) have shown success in learning from graph-structured data",
     "on graphs with hundreds of millions of nodes and billions of edges."),
    # researcher profile: "preprint<YEAR>arXiv" marker, title, abstract
    (PROFILE, "AutoTrust: Benchmarking Trustworthiness in Large Vision Language Models for Autonomous Driving",
     dict(year=2026, venue="arXiv", line=57, entry=1, authors=[]),
     "Recent advancements in large vision language models (VLMs) tailored for autonomous driving",
     "all the codes and datasets in https://github.com/taco-group/AutoTrust."),
    (PROFILE, "When Is Rank-1 Steering Cheap? Geometry, Granularity, and Budgeted Search",
     dict(year=2026, line=93),
     "Activation steering offers a lightweight way to control LLMs",
     "from a descriptive tool into an actionable prior for LLM control."),
    (PROFILE, "Fantastic Reasoning Behaviors and Where to Find Them: Unsupervised Discovery of the Reasoning Process",
     dict(year=2025),
     "Despite the growing reasoning capabilities of recent large language models",
     "both interpreting and controllably steering reasoning in LLMs."),
    (PROFILE, "AGG: Amortized Generative 3D Gaussians for Single Image to 3D", dict(year=2024),
     "Given the growing need for automatic 3D content creation pipelines,",
     "orders of magnitude faster. Project page: https://ir1d.github.io/AGG/"),
    (PROFILE, "Can pruning improve certified robustness of neural networks?", dict(year=2022, line=165),
     "With the rapid development of deep learning, the sizes of neural networks",
     "available at: https://github.com/VITA-Group/CertifiedPruning."),
    (PROFILE, "UG$^{2+}$ Track 2: A Collective Benchmark Effort for Evaluating and Advancing Image Understanding "
              "in Poor Visibility Environments", dict(year=2020),
     "The UG$^{2+}$ challenge in IEEE CVPR 2019 aims to evoke",
     "the broad research community to address these challenges together."),
    (PROFILE, "Model Compression with Adversarial Robustness: A Unified Optimization Framework",
     dict(year=2019, line=543, entry=82),
     "Deep model compression has been extensively studied,",
     "codes are publicly available at: https://github.com/shupenggui/ATMC."),
]


@pytest.mark.parametrize("name, title, fields, start, end", PINNED,
                         ids=[f"{n[:3]}-{t[:40]}" for n, t, *_ in PINNED])
def test_pinned_entry(reports, name, title, fields, start, end):
    paper = find(reports[name].papers, title)
    source = paper.sources[0]
    for key, value in fields.items():
        actual = {"line": source.line, "entry": source.entry}[key] if key in ("line", "entry") else getattr(paper, key)
        assert actual == value, f"{key} of {title!r}"
    assert paper.abstract.startswith(start)
    assert paper.abstract.endswith(end)
    assert paper.id == paper_id(title)
    assert source.file == f"indexes/sources/{name}"
    assert source.format == EXPECTED[name][0]


# --- per-layout metadata distributions (cheap, catch regressions in bulk) ----


def test_arxiv_metadata_totals(reports):
    papers = reports[ARXIV].papers
    assert Counter(p.category for p in papers) == {"LG": 16, "CV": 14, "OC": 4, "ML": 2, "CL": 2, "NA": 1}
    assert sum(p.has_code for p in papers) == 4  # four "...Code" header lines
    assert sum(p.authors_et_al for p in papers) == 25
    assert sum(bool(p.affiliations) for p in papers) == 5
    assert [p.title for p in papers if p.year is None] == [
        "Multi-Perspective Evidence Synthesis and Reasoning for Unsupervised Multimodal Entity Linking"]
    assert sum("Vishal M. Patel" in p.authors for p in papers) == 4


def test_daily_papers_years_and_counts(reports):
    papers = reports[DAILY].papers
    no_year = [p for p in papers if p.year is None]
    assert len(no_year) == 19
    assert all(p.date and p.date.startswith("--") for p in no_year)
    assert all(p.date == f"{p.year}-{p.date[5:]}" for p in papers if p.year is not None)
    assert all(p.authors == [] and p.author_count for p in papers)
    assert sum(p.author_count for p in papers) == 385  # sum of the "• N authors" lines


def test_profile_years(reports):
    years = Counter(p.year for p in reports[PROFILE].papers)
    assert years == {2026: 7, 2025: 1, 2024: 2, 2022: 47, 2021: 3, 2020: 20, 2019: 2}


# --- merging across the bundled pages ---------------------------------------


@pytest.fixture(scope="module")
def merged(corpus_dir):
    return {p.title: p for p in ingest_paths([corpus_dir]).papers}


def test_merge_keeps_every_source_and_richest_metadata(merged):
    paper = merged["Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data"]
    assert [(s.file, s.format, s.line) for s in paper.sources] == [
        (f"indexes/sources/{DAILY}", "daily-papers", 293), (f"indexes/sources/{SEARCH_A}", "paper-search", 119)]
    # The paper-search copy has no date or author count; the merged record keeps the daily page's.
    assert (paper.year, paper.date, paper.author_count) == (2023, "2023-01-01", 6)

    app = merged["APP: Anytime Progressive Pruning"]
    assert [(Path(s.file).name, s.format, s.line) for s in app.sources] == [
        (SEARCH_B, "paper-search", 513), (PROFILE, "profile", 123)]
    assert (app.year, app.venue) == (2022, "arXiv")  # only the profile knows them
    assert app.abstract.startswith("With the latest advances in deep learning")
    assert app.abstract.endswith("respectively.")


def test_merge_does_not_depend_on_file_order(corpus_dir):
    papers = ingest_paths([corpus_dir / SEARCH_A, corpus_dir / DAILY]).papers
    paper = find(papers, "Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data")
    assert (paper.year, paper.date, paper.author_count) == (2023, "2023-01-01", 6)
    assert [Path(s.file).name for s in paper.sources] == [SEARCH_A, DAILY]


def test_merge_between_the_two_paper_search_pages(merged):
    paper = merged["Git Re-Basin: Merging Models modulo Permutation Symmetries"]
    assert [(Path(s.file).name, s.line) for s in paper.sources] == [(SEARCH_A, 151), (SEARCH_B, 619)]
    assert paper.year is None


def test_daily_date_without_year_stays_yearless_after_merge(merged):
    paper = merged["Incorporating Surrogate Gradient Norm to Improve Offline Optimization Techniques"]
    assert len(paper.sources) == 2
    assert (paper.year, paper.date) == (None, "--03-06")


def test_unmerged_papers_have_one_source(merged):
    counts = Counter(len(p.sources) for p in merged.values())
    assert counts == {1: 707, 2: 16}


def test_same_file_named_twice_is_read_once(corpus_dir):
    result = ingest_paths([corpus_dir, corpus_dir / ARXIV])
    assert len(result.files) == 5
    assert len(result.papers) == 723 and result.merged == 16
    paper = find(result.papers, "Depth Separation with Multilayer Mean-Field Networks")
    assert len(paper.sources) == 1


# --- title/author split on glued arXiv lines ---------------------------------


@pytest.mark.parametrize("line, title, authors, et_al, affiliations", [
    ("Can Forward Gradient Match Backpropagation?Mo Zhou, Rong Ge",
     "Can Forward Gradient Match Backpropagation?", ["Mo Zhou", "Rong Ge"], False, []),
    ("Locally Regularized NDEs: Some Black Boxes Were Meant to Remain Closed!Avik Pal, Alan Edelman et al. · mit",
     "Locally Regularized NDEs: Some Black Boxes Were Meant to Remain Closed!", ["Avik Pal", "Alan Edelman"], True,
     ["mit"]),
    ("Scaling Laws for LLMMo Zhou, Annie N. Wang", "Scaling Laws for LLM", ["Mo Zhou", "Annie N. Wang"], False, []),
    ("Vision Transformers for 3DJ. Smith, Ann van der Berg", "Vision Transformers for 3D",
     ["J. Smith", "Ann van der Berg"], False, []),
    # Capitals beyond ASCII and surnames with an inner capital are still names.
    ("Attention Is All You NeedAshish Vaswani, Noam Shazeer, Łukasz Kaiser et al. · google",
     "Attention Is All You Need", ["Ashish Vaswani", "Noam Shazeer", "Łukasz Kaiser"], True, ["google"]),
    ("Gradient-Based Learning Applied to Document RecognitionYann LeCun, Léon Bottou, Yoshua Bengio",
     "Gradient-Based Learning Applied to Document Recognition", ["Yann LeCun", "Léon Bottou", "Yoshua Bengio"],
     False, []),
    ("Über Graph NetworksÉmile Zola, Sean O'Brien, David McAllester", "Über Graph Networks",
     ["Émile Zola", "Sean O'Brien", "David McAllester"], False, []),
])
def test_split_title_authors(line, title, authors, et_al, affiliations):
    assert split_title_authors(line) == (title, authors, et_al, affiliations)


def test_unsplittable_line_is_kept_whole_with_a_warning(tmp_path):
    page = tmp_path / "listing.txt"
    page.write_text("LGOct 7, 2022\nan all lowercase title line with no author list\nSome abstract text.\n"
                    "CVMay 19, 2022\nOn Trace of PGD-Like Adversarial AttacksMo Zhou, Vishal M. Patel\nAbstract two.\n",
                    encoding="utf-8")
    report = ingest_file(page)
    assert [p.title for p in report.papers] == ["an all lowercase title line with no author list",
                                                "On Trace of PGD-Like Adversarial Attacks"]
    assert report.papers[1].authors == ["Mo Zhou", "Vishal M. Patel"]
    [warning] = report.warnings
    assert (warning.line, warning.entry) == (2, 1)
    assert "author list" in warning.reason
