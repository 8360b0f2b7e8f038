"""What a question asks for (assistant/answer/asked.py): which questions ask for a
quantity, what names it, and whether a sentence states it. Pure functions, no index."""

from __future__ import annotations

import pytest

from assistant.answer.asked import asked_quantities, has_number, is_lookup, states


@pytest.mark.parametrize("question, phrases", [
    ("What dropout rate does the study recommend?", ["dropout rate"]),
    ("What learning rate and batch size does ADAHESSIAN use for its ImageNet experiments?",
     ["learning rate and batch size"]),
    ("How many GPUs were used to train BYOL, and for how many epochs?", ["GPUs", "epochs"]),
    ("How much energy in kWh did it take to train GNMT?", ["energy in kWh"]),
    ("By how much does LookHere beat 2D-RoPE on ImageNet?", [""]),
    ("What AP does YOLOv4-large reach on MS COCO?", ["AP"]),
    ("On which benchmark does X report its top-1 accuracy?", []),  # asks for a benchmark, not a number
    ("What solvable model does the paper analyze?", []),
    ("Which transformer mechanism is the update rule equivalent to?", []),
    ("What does Diet-PEPSI use to capture global context?", []),
    ("Which paper limits how much a classifier can memorize noisy labels?", []),  # a lookup
    ("Which papers report a speedup of 3x?", []),  # a lookup
])
def test_quantity_questions_and_what_they_ask_for(question, phrases):
    assert [f.phrase for f in asked_quantities(question)] == phrases


@pytest.mark.parametrize("text, number", [
    ("masking a high proportion of the input image, e.g., 75%, yields", True),
    ("Our model has 8 encoder and 8 decoder layers", True),
    ("we accelerate training (by 3x or more)", True),
    ("the training only costs 199 A100 GPU days", True),
    ("it reduces translation errors substantially", False),
    ("with two neural networks", True),
    ("a ResNet-50 on ImageNet-1K reaches the best top-1", False),  # names, not values
    ("results on WMT'14 with an A100 and GPT-4", False),
    ("dropout demonstrates remarkable effectiveness", False),
])
def test_numbers_are_values_not_parts_of_names(text, number):
    assert has_number(text) is number


def test_a_sentence_states_a_quantity_when_it_names_it_and_gives_a_value():
    [ratio] = asked_quantities("What masking ratio does MAE use?")
    assert states(ratio, "we find that masking a high proportion of the input image, e.g., 75%, works")
    assert not states(ratio, "we find that masking a high proportion of the input image works")  # no value
    assert not states(ratio, "a vanilla ViT-Huge model achieves the best accuracy (87.8%)")  # value of another thing
    gpus, epochs = asked_quantities("How many GPUs were used, and for how many epochs?")
    assert states(gpus, "training takes 8 days on 64 GPU nodes")  # gpus/gpu fold together
    assert states(epochs, "we train for 300 epochs") and not states(epochs, "we train on 64 GPUs")
    assert states(gpus, "trained on eight GPUs")  # "how many": a number word is a value
    assert not states(ratio, "we explore four types of masking filters")  # ... otherwise it is not
    [any_amount] = asked_quantities("By how much does it improve accuracy?")
    assert states(any_amount, "it improves MOTA by 9.6%") and not states(any_amount, "it improves MOTA")


@pytest.mark.parametrize("question, lookup", [
    ("Which paper proposes an adaptive second order optimizer?", True),
    ("Which planning algorithm lets a learned value network score every successor?", True),
    ("Is there a paper on graph rewiring?", True),
    ("What masking ratio does MAE find works best?", False),
    ("Which two contributions does the grokking paper introduce?", False),
    ("Which dataset does GraphNAS evaluate on?", False),
    ("Which paper proposes a speculative decoding scheme?", True),
    ("What dropout rate does the study recommend?", False),
])
def test_lookup_questions_are_recognised(question, lookup):
    assert is_lookup(question) is lookup
