"""Ten-item Big-Five questionnaires, scored exactly as published.

Why here and not in a form: a person's traits are the zero-shot route to their own ranking, so the
scoring must match the instruments' keys item by item (hand-worked tests pin it down).

* **BFI-10** (Rammstedt & John, 2007): ten answers 1-5. Items 1, 3, 4, 5 and 7 are reverse-keyed
  (6 - x). Each trait is the mean of two items: E = 1R, 6; A = 2, 7R; C = 3R, 8; N = 4R, 9; O = 5R, 10.
  On [-1, 1]: (mean - 3) / 2, which equals PARA's (sum - 6) / 4 for sums of the two items (2..10).
* **TIPI** (Gosling, Rentfrow & Swann, 2003): ten answers 1-7. Items 2, 4, 6, 8 and 10 are
  reverse-keyed (8 - x). E = 1, 6R; A = 2R, 7; C = 3, 8R; emotional stability = 4R, 9; O = 5, 10R;
  each a mean. TIPI measures emotional stability, the opposite pole of neuroticism: N = -stability
  once on [-1, 1] ((mean - 4) / 3).

The item texts are not shipped: neither instrument's terms clearly grant redistribution in software
under this project's licence. :data:`INSTRUMENTS` says where each is published.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from ..constants import TRAITS
from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from .profile import Profile


@dataclasses.dataclass(frozen=True)
class Instrument:
    """An instrument's key: ``scales`` maps each scale code to its two items (1-based, R = reversed)."""

    name: str
    title: str
    low: int
    high: int
    scales: dict[str, tuple[str, str]]
    citation: str
    items_published: str

    def reversed_items(self) -> list[int]:
        return sorted(int(item[:-1]) for pair in self.scales.values() for item in pair if item.endswith("R"))


@dataclasses.dataclass(frozen=True)
class QuestionnaireScore:
    """``raw``: each scale's mean on the instrument's own range; ``traits``: O, C, E, A, N in [-1, 1]."""

    instrument: str
    answers: tuple[int, ...]
    raw: dict[str, float]
    traits: np.ndarray


INSTRUMENTS: Registry[Instrument] = Registry("questionnaire")
INSTRUMENTS.add(
    "bfi10",
    Instrument(
        name="bfi10",
        title="BFI-10",
        low=1,
        high=5,
        scales={"E": ("1R", "6"), "A": ("2", "7R"), "C": ("3R", "8"), "N": ("4R", "9"), "O": ("5R", "10")},
        citation="Rammstedt, B. & John, O. P. (2007). Measuring personality in one minute or less: "
        "a 10-item short "
        "version of the Big Five Inventory in English and German. J. Res. Pers. 41, 203-212. "
        "doi:10.1016/j.jrp.2006.02.001",
        items_published="the item texts are in the paper's appendix (English and German); answer each on "
        "1 = disagree strongly ... 5 = agree strongly",
    ),
)
INSTRUMENTS.add(
    "tipi",
    Instrument(
        name="tipi",
        title="TIPI",
        low=1,
        high=7,
        scales={"E": ("1", "6R"), "A": ("2R", "7"), "C": ("3", "8R"), "ES": ("4R", "9"), "O": ("5", "10R")},
        citation="Gosling, S. D., Rentfrow, P. J. & Swann, W. B. (2003). "
        "A very brief measure of the Big-Five "
        "personality domains. J. Res. Pers. 37, 504-528. doi:10.1016/S0092-6566(03)00046-1",
        items_published="the item texts are in the paper and on Samuel Gosling's lab pages (TIPI); "
        "answer each on "
        "1 = disagree strongly ... 7 = agree strongly",
    ),
)


def instrument(name: str) -> Instrument:
    return INSTRUMENTS.get(name, ConfigError)


def parse_answers(text: str) -> list[int]:
    """``"1,5,3,..."`` (commas or spaces) -> integers; anything else is a one-line error."""
    cells = [c for c in text.replace(",", " ").split() if c]
    try:
        return [int(c) for c in cells]
    except ValueError:
        raise ConfigError(f"answers must be whole numbers separated by commas, got {text!r}") from None


def check_answers(tool: Instrument, answers: Sequence[int]) -> tuple[int, ...]:
    if len(answers) != 10:
        raise ConfigError(f"{tool.title} has 10 items; got {len(answers)} answer(s)")
    bad = [(i, a) for i, a in enumerate(answers, start=1) if not (tool.low <= a <= tool.high) or a != int(a)]
    if bad:
        item, value = bad[0]
        raise ConfigError(f"{tool.title} answers lie in {tool.low}..{tool.high}; item {item} is {value}")
    return tuple(int(a) for a in answers)


def score_answers(name: str, answers: Sequence[int]) -> QuestionnaireScore:
    """Score ten answers with the instrument's published key (see the module docstring)."""
    tool = instrument(name)
    answers = check_answers(tool, answers)

    def item_value(item: str) -> int:
        value = answers[int(item.rstrip("R")) - 1]
        return tool.low + tool.high - value if item.endswith("R") else value

    raw = {scale: (item_value(a) + item_value(b)) / 2 for scale, (a, b) in tool.scales.items()}
    middle, half = (tool.low + tool.high) / 2, (tool.high - tool.low) / 2
    unit = {scale: (value - middle) / half for scale, value in raw.items()}
    if "ES" in unit:  # emotional stability is the opposite pole of neuroticism
        unit["N"] = -unit.pop("ES")
    return QuestionnaireScore(name, answers, raw, np.array([unit[t] for t in TRAITS]))


def profile_from_answers(name: str, answers: Sequence[int]) -> "Profile":
    """The profile of ten answers: what ``persona-iaa profile`` writes and ``POST /profile`` answers."""
    from .profile import Profile

    scored = score_answers(name, answers)
    return Profile(traits=scored.traits, instrument=scored.instrument, answers=scored.answers, raw=scored.raw)


def ask_answers(name: str, ask: Callable[[str], str] = input) -> list[int]:
    """Ask the ten items one by one by number (the texts are published elsewhere; see the instrument)."""
    tool = instrument(name)
    answers: list[int] = []
    while len(answers) < 10:
        reply: Optional[str] = ask(f"{tool.title} item {len(answers) + 1} of 10 ({tool.low}-{tool.high}): ")
        if reply is None:
            continue
        try:
            value = int(reply.strip())
        except (ValueError, AttributeError):
            continue
        if tool.low <= value <= tool.high:
            answers.append(value)
    return answers
