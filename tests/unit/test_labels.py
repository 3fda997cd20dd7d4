"""The severity vocabulary is written once (fieldapp.domain) and every message and palette is
built from it."""

from __future__ import annotations

from flask_babel import force_locale

from fieldapp import create_app
from fieldapp.domain import SEVERITIES, SEVERITY_COLOURS
from fieldapp.labels import SATISFACTION_LABELS, SEVERITY_CHOICES, SEVERITY_LABELS, one_of


def test_the_palette_has_a_colour_for_each_level_and_nothing_else() -> None:
    assert tuple(SEVERITY_COLOURS) == SEVERITIES
    assert set(SEVERITY_LABELS) == set(SEVERITIES)


def test_the_choices_message_lists_the_codes_in_order_named_in_the_readers_language() -> None:
    app = create_app({"TESTING": True})
    with app.test_request_context():
        with force_locale("en"):
            assert str(SEVERITY_CHOICES) == "One of: red, orange, yellow."
            # The English label is the code in words: no "(Basically satisfied)" beside it.
            assert one_of(SATISFACTION_LABELS, ["basically_satisfied"]) == (
                "One of: basically_satisfied."
            )
        with force_locale("zh"):
            assert str(SEVERITY_CHOICES) == "可选值：red（红）, orange（橙）, yellow（黄）。"
