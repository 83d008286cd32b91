"""The personal model's decision rules on given distances (no audio: the embeddings are not under test)."""

from __future__ import annotations

import numpy as np

from skill.hearing.commands import Intent
from skill.hearing.personal import OTHER, Judgement, PersonalModel
from skill.hearing.recognition import Recognition


class Fixed(PersonalModel):
    """A model whose judgement of every utterance is given."""

    given: Judgement | None = None

    def judge(self, samples: np.ndarray, max_windows: int | None = None) -> Judgement | None:
        return self.given


def model(heard: tuple[str, ...], judgement: Judgement) -> Fixed:
    take = np.zeros((2, 96))
    m = Fixed(("stop", "stop", OTHER), (take, take, take), {"stop": 40.0}, heard)
    object.__setattr__(m, "given", judgement)
    return m


def took(intent: Intent | None) -> Recognition:
    return Recognition(intent, intent.value if intent else "", 0.9, 0.0, 0.5)


def test_what_the_grammar_heard_in_the_takes_counts_for_the_command() -> None:
    # nearer its takes of "stop" than anything else, but not by the margin a lone opinion needs
    between = Judgement({"stop": 88.0, OTHER: 97.0}, windows=2)
    assert model(("", "", ""), between).revise(took(Intent.SLOWER), np.zeros(0)).intent == Intent.SLOWER
    heard = model(("slower", "stop", ""), between)
    assert heard.revise(took(Intent.SLOWER), np.zeros(0)).intent == Intent.STOP
    # another word the grammar never made of these takes: left to the grammar
    assert heard.revise(took(Intent.FASTER), np.zeros(0)).intent == Intent.FASTER


def test_an_utterance_much_longer_than_the_takes_is_not_taken_for_them() -> None:
    near = Judgement({"stop": 40.0, OTHER: 100.0}, windows=2)
    assert model(("", "", ""), near).revise(took(None), np.zeros(0)).intent == Intent.STOP
    sentence = Judgement({"stop": 40.0, OTHER: 100.0}, windows=6)
    assert model(("", "", ""), sentence).revise(took(None), np.zeros(0)).intent is None


def test_a_grammar_acceptance_near_a_non_command_take_is_turned_down() -> None:
    like_okay = Judgement({"stop": 110.0, OTHER: 60.0}, windows=2)
    assert model(("", "", ""), like_okay).revise(took(Intent.START), np.zeros(0)).intent is None
    # nearer a non-command than the takes of stop, but far from it too: not known to be one
    far = Judgement({"stop": 130.0, OTHER: 100.0}, windows=2)
    assert model(("", "", ""), far).revise(took(Intent.START), np.zeros(0)).intent == Intent.START


def test_a_grammar_that_misheard_most_of_the_takes_needs_them_to_agree() -> None:
    unsure = Judgement({"stop": 95.0, OTHER: 100.0}, windows=2)
    trusted = Fixed(("stop", "stop", "stop", OTHER), (np.zeros((2, 96)),) * 4, {"stop": 40.0},
                    ("stop", "stop", "slower", ""), (True, True, True, False))
    object.__setattr__(trusted, "given", unsure)
    assert trusted.revise(took(Intent.START), np.zeros(0)).intent == Intent.START
    misheard = Fixed(trusted.labels, trusted.templates, trusted.spreads, ("slower", "stop", "", ""),
                     (True, False, False, False))
    object.__setattr__(misheard, "given", unsure)
    assert misheard.revise(took(Intent.START), np.zeros(0)).intent is None
    assert misheard.revise(took(None), np.zeros(0)).intent is None
    # what its takes do agree with stands
    close = Judgement({"stop": 45.0, OTHER: 100.0}, windows=2)
    object.__setattr__(misheard, "given", close)
    assert misheard.revise(took(Intent.STOP), np.zeros(0)).intent == Intent.STOP
