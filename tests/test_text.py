"""What a lens reads: emoji written as their names, the user's own text otherwise untouched."""

import pytest

from echoroom.lenses.text import emoji_names, prepare


def test_emoji_become_words_the_encoder_knows():
    assert emoji_names("😂😂😂") == "face with tears of joy face with tears of joy face with tears of joy"
    assert emoji_names("❤️") == "red heart"
    assert emoji_names("group hug 🤗🤗") == "group hug smiling face with open hands smiling face with open hands"
    # Three lines the encoder once read as the same [UNK]s now read differently.
    assert len({emoji_names(t) for t in ("😂😂😂", "❤️", "👏👏👏")}) == 3


def test_text_without_emoji_is_untouched():
    for text in ("snake_case  stays", "  spaced  ", "", "<b>&amp;</b>"):
        assert emoji_names(text) == text
    assert emoji_names("my_var 🙄") == "my_var face with rolling eyes"


def test_preparations_are_named():
    assert prepare(["a 🎉"], "") == ["a 🎉"]
    assert prepare(["a 🎉"], "emoji_names") == ["a party popper"]
    with pytest.raises(ValueError, match="unknown text preparation 'lower'"):
        prepare(["x"], "lower")


def test_the_quick_check_lets_every_known_emoji_through():
    """``emoji_names`` skips texts without a code point from ``_MAYBE_EMOJI``: no emoji may lack one."""
    import emoji

    from echoroom.lenses.text import _MAYBE_EMOJI

    assert [e for e in emoji.EMOJI_DATA if not _MAYBE_EMOJI.search(e)] == []
    assert emoji_names("1️⃣ ©") == "keycap 1 copyright"
    assert emoji_names("plain ascii, no emoji: #1 (c)") == "plain ascii, no emoji: #1 (c)"
