"""Matrix HTML read as plain text for WeChat (``adapters.matrix.htmltext``)."""

from __future__ import annotations

import pytest

from adapters.matrix.htmltext import html_to_text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<b>bold</b> and <i>italic</i><br>next line", "bold and italic\nnext line"),
        (
            "<strong>a</strong> <em>b</em> <u>c</u> <del>d</del> <font color=red>e</font>",
            "a b c d e",
        ),
        ('see <a href="https://example.org/x">the map</a>', "see the map (https://example.org/x)"),
        ('<a href="https://example.org/">https://example.org/</a>', "https://example.org/"),
        ('<a href="mailto:ann@example.org">ann@example.org</a>', "ann@example.org"),
        ('<a href="https://matrix.to/#/%40bob%3Aexample.org">Bob</a>: hi', "Bob: hi"),
        ("<ul><li>one</li><li>two<ul><li>sub</li></ul></li></ul>", "• one\n• two\n  • sub"),
        ('<ol start="3"><li>a</li><li>b</li></ol>', "3. a\n4. b"),
        ("<blockquote><p>said</p><p>this</p></blockquote>ok", "> said\n>\n> this\n\nok"),
        ("<pre><code>def f():\n    return  1\n</code></pre>", "def f():\n    return  1"),
        ("run <code>x  =  1</code> now", "run x  =  1 now"),
        ("<p>one</p>\n<p>two</p>", "one\n\ntwo"),
        ("<div>a</div><div>b</div>", "a\nb"),
        ("a<br><br>b", "a\n\nb"),
        ("<mx-reply><blockquote>old</blockquote></mx-reply>answer", "answer"),
        ('<img src="mxc://x/y" alt=":cat:"> meow', ":cat: meow"),
        ("&lt;tent&gt; &amp; more", "<tent> & more"),
        ("<<<b", "<<<b"),
        ("unclosed <b>bold <i>and", "unclosed bold and"),
        ("<script>alert(1)</script>safe", "safe"),
    ],
)
def test_html_reads_as_plain_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_hostile_nesting_is_read_without_recursion() -> None:
    assert html_to_text("<b>" * 5000 + "deep" + "</b>" * 5000) == "deep"
    assert html_to_text("<blockquote>" * 3000 + "q").endswith("q")
