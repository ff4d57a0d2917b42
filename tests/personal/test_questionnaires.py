"""BFI-10 and TIPI scored as published, checked against answers worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from persona_iaa.cli import main
from persona_iaa.errors import ConfigError
from persona_iaa.personal.questionnaires import ask_answers, score_answers


def test_bfi10_hand_worked():
    # answers to items 1..10; reversed items 1, 3, 4, 5, 7 become 6 - x
    answers = [1, 5, 3, 2, 4, 4, 2, 5, 1, 5]
    # E = (6-1 + 4)/2 = 4.5; A = (5 + 6-2)/2 = 4.5; C = (6-3 + 5)/2 = 4
    # N = (6-2 + 1)/2 = 2.5; O = (6-4 + 5)/2 = 3.5
    scored = score_answers("bfi10", answers)
    assert scored.raw == {"E": 4.5, "A": 4.5, "C": 4.0, "N": 2.5, "O": 3.5}
    # O C E A N on [-1, 1]: (mean - 3) / 2
    np.testing.assert_allclose(scored.traits, [0.25, 0.5, 0.75, 0.75, -0.25])


def test_bfi10_matches_para_sums():
    # PARA stores the sum of a trait's two items (2..10) and maps it by (x - 6) / 4: the same numbers
    scored = score_answers("bfi10", [2, 3, 4, 5, 1, 3, 4, 2, 5, 2])
    sums = {trait: 2 * mean for trait, mean in scored.raw.items()}
    np.testing.assert_allclose(scored.traits, [(sums[t] - 6) / 4 for t in "OCEAN"])


def test_tipi_hand_worked():
    # reversed items 2, 4, 6, 8, 10 become 8 - x
    answers = [6, 2, 5, 3, 7, 1, 4, 6, 2, 4]
    # E = (6 + 8-1)/2 = 6.5; A = (8-2 + 4)/2 = 5; C = (5 + 8-6)/2 = 3.5
    # ES = (8-3 + 2)/2 = 3.5; O = (7 + 8-4)/2 = 5.5
    scored = score_answers("tipi", answers)
    assert scored.raw == {"E": 6.5, "A": 5.0, "C": 3.5, "ES": 3.5, "O": 5.5}
    # (mean - 4) / 3; N is minus emotional stability
    np.testing.assert_allclose(scored.traits, [0.5, -0.5 / 3, 2.5 / 3, 1 / 3, 0.5 / 3])


def test_tipi_extremes_map_to_the_ends():
    most_stable = score_answers("tipi", [7, 1, 7, 1, 7, 1, 7, 1, 7, 1])
    np.testing.assert_allclose(most_stable.traits, [1, 1, 1, 1, -1])


@pytest.mark.parametrize(
    "name, answers, message",
    [
        ("bfi10", [1, 2, 3, 4, 5, 6, 1, 2, 3, 4], "item 6 is 6"),
        ("tipi", [0, 2, 3, 4, 5, 6, 1, 2, 3, 4], "item 1 is 0"),
        ("bfi10", [1, 2, 3], "got 3 answer"),
    ],
)
def test_bad_answers_are_refused(name, answers, message):
    with pytest.raises(ConfigError, match=message):
        score_answers(name, answers)


def test_interactive_answers_skip_invalid_replies():
    replies = iter(["x", "9", "3"] + ["4"] * 9)
    assert ask_answers("bfi10", lambda prompt: next(replies)) == [3] + [4] * 9


def test_profile_command_writes_traits_raw_and_instrument(tmp_path, capsys):
    out = tmp_path / "me.json"
    assert main(["profile", "tipi", "--answers", "6,2,5,3,7,1,4,6,2,4", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["instrument"] == "tipi" and data["raw"]["ES"] == 3.5
    assert data["traits"]["O"] == pytest.approx(0.5) and data["traits"]["N"] == pytest.approx(0.5 / 3)
    assert main(["profile", "bfi10", "--answers", "1 5 3 2 4 4 2 5 1 5"]) == 0
    assert json.loads(capsys.readouterr().out)["traits"]["E"] == 0.75


def test_profile_command_out_of_range_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "me.json"
    assert main(["profile", "bfi10", "--answers", "1,5,3,2,4,4,2,5,1,7", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "1..5" in err
    assert not out.exists()
