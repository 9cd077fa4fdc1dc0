"""The bot's Markdown texts as Matrix HTML (``adapters.matrix.markdown``)."""

from __future__ import annotations

from adapters.matrix.markdown import markdown_html


def test_code_and_line_breaks() -> None:
    assert markdown_html("Send `help` for the list.\nThen `login`.") == (
        "Send <code>help</code> for the list.<br />\nThen <code>login</code>."
    )


def test_typed_html_is_shown_not_run() -> None:
    assert markdown_html("<b>x</b> & <script>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;"


def test_several_paragraphs_keep_their_paragraphs() -> None:
    assert markdown_html("one\n\ntwo") == "<p>one</p>\n<p>two</p>"
