"""The sanitizer that every piece of untrusted text goes through before Streamlit renders it.

The check is structural: after sanitizing, a CommonMark/GFM renderer must find no image, no
link, no autolink and no raw HTML. We parse with markdown-it-py (shipped with rich) in
CommonMark mode plus GFM-style linkify, which is stricter than what Streamlit renders.
"""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from ui.render import StreamSanitizer, inline, sanitize_markdown

ATTACKS = [
    "![pixel](http://attacker.example/track.png)",
    '![pixel](https://attacker.example/a.png "title")',
    "![pixel]( <http://attacker.example/a.png> )",
    "[click me](http://attacker.example/phish)",
    "[click me](javascript:alert(1))",
    "<script>alert(1)</script>",
    '<img src="http://attacker.example/x.png" onerror="alert(1)">',
    "<http://attacker.example/autolink>",
    "visit http://attacker.example/x or www.attacker.example/y today",
    "[ref link][r]\n\n[r]: http://attacker.example/ref",
    "![ref image][r]\n\n[r]: http://attacker.example/ref.png",
    "\\`not code ![x](http://attacker.example/x.png) \\`",
    "\\\\![x](http://attacker.example/x.png)",
    "[![nested](http://attacker.example/i.png)](http://attacker.example/l)",
    "``` \n![x](http://attacker.example/x.png)\n",  # an unclosed fence that is not one
    "~~~\ncode\n~~~\n<iframe src=http://attacker.example></iframe>",
    "| a | b |\n|---|---|\n| ![x](http://attacker.example/x.png) | <b>x</b> |",
    "[multi\nline](http://attacker.example/m)",
    "![multi\nline](http://attacker.example/m.png)",
]


def _tokens(md: str):
    parser = MarkdownIt("commonmark", {"linkify": False}).enable("table")
    stack = list(parser.parse(md))
    while stack:
        token = stack.pop()
        yield token
        stack.extend(token.children or [])


def _dangerous(md: str) -> list[str]:
    found = []
    for token in _tokens(md):
        if token.type in ("image", "link_open", "html_inline", "html_block"):
            found.append(token.type)
        if token.type == "text" and ("://" in token.content or "www." in token.content):
            # a bare URL outside code would be linkified by GFM renderers
            found.append(f"bare url: {token.content}")
    return found


def test_the_check_sees_the_raw_attacks():
    raw = [a for a in ATTACKS if _dangerous(a)]
    assert len(raw) >= len(ATTACKS) - 3  # the escaped-on-purpose ones are harmless already


@pytest.mark.parametrize("attack", ATTACKS)
def test_sanitized_markdown_has_no_image_link_or_html(attack):
    assert _dangerous(sanitize_markdown(attack)) == []


@pytest.mark.parametrize("attack", ATTACKS)
def test_streaming_any_chunking_is_as_safe_as_the_whole(attack):
    for size in (1, 2, 3, 7):
        sanitizer = StreamSanitizer()
        pieces = [attack[i : i + size] for i in range(0, len(attack), size)]
        shown = ""
        for piece in pieces:
            shown += sanitizer.feed(piece)
            # what is on screen mid-stream is safe too
            assert _dangerous(shown) == [], (size, shown)
        shown += sanitizer.flush()
        assert _dangerous(shown) == [], (size, shown)


def test_words_survive_and_urls_stay_visible_as_code():
    out = sanitize_markdown("See ![diagram](http://x.example/d.png) and [docs](https://y.example).")
    assert "diagram" in out and "docs" in out
    assert "`http://x.example/d.png`" in out and "`https://y.example`" in out


def test_code_is_left_exactly_as_written():
    text = "Use `a[i] < b` here.\n\n```python\nif a < b and x[0]:\n    print('$5')\n```\n"
    out = sanitize_markdown(text)
    assert "`a[i] < b`" in out
    assert "```python\nif a < b and x[0]:\n    print('$5')\n```" in out


def test_plain_markdown_keeps_its_formatting():
    text = "## Heading\n\n- **bold** item\n- *em* item\n\n> quote\n\n1. one\n2. two\n"
    assert sanitize_markdown(text) == text


def test_dollars_and_angle_brackets_render_as_text():
    out = sanitize_markdown("costs $5 to $10 when a<b")
    assert "\\$5" in out and "\\$10" in out and "a&lt;b" in out
    assert not any(t.type.startswith("math") for t in _tokens(out))


def test_existing_escapes_are_not_doubled():
    # `\[` already escaped stays one escape; doubling it would re-activate the bracket
    assert sanitize_markdown("\\[not a link\\](x)") == "\\[not a link\\](x)"


def test_inline_is_one_bounded_safe_line():
    label = inline("a\nb ![x](http://e.example/x.png) " + "word " * 100, limit=40)
    assert "\n" not in label
    assert len(label) < 80
    assert _dangerous(label) == []


def test_stream_emits_text_before_the_line_ends():
    sanitizer = StreamSanitizer()
    assert sanitizer.feed("The first words of a long ") == "The first words of a long "
    assert sanitizer.feed("line") == ""
    assert sanitizer.flush() == "line"


def test_stream_holds_lines_that_may_become_fences():
    sanitizer = StreamSanitizer()
    assert sanitizer.feed("~~~ ") == ""
    out = sanitizer.feed("py\n<b>\n~~~\n")
    assert out == "~~~ py\n<b>\n~~~\n"
