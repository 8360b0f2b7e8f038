"""The abstention-threshold search of evals/calibrate.py on hand-made confidences."""

from __future__ import annotations

from evals.calibrate import choose, rates

# (confidence, answerable): unanswerables at 0.1, 0.2, 0.5; answerables at 0.3, 0.6, 0.7, 0.8.
SCORED = [(0.1, False), (0.2, False), (0.5, False), (0.3, True), (0.6, True), (0.7, True), (0.8, True)]


def test_rates_count_what_falls_below_the_threshold():
    r = rates(SCORED, 0.35)  # abstains on 0.1, 0.2 (right) and 0.3 (wrong)
    assert (r["abstention_recall"], r["false_abstention"], r["abstention_precision"]) == (0.6667, 0.25, 0.6667)
    assert (r["answerable"], r["unanswerable"]) == (4, 3)
    assert rates(SCORED, 0.05)["abstention_precision"] is None  # never abstains: no precision, not 1.0


def test_choose_maximises_recall_minus_false_abstention():
    # 0.55 (midway between 0.5 and 0.6) catches all three unanswerables at one false abstention:
    # J = 1 - 0.25 = 0.75, better than 0.25 (J = 0.667) or 0.4 (J = 0.667 - 0.25).
    best = choose(SCORED)
    assert best["threshold"] == 0.55 and best["abstention_recall"] == 1.0 and best["false_abstention"] == 0.25
