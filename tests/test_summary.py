"""rc.book.summary: the "Key results" closer is built from computed numbers, and refuses empty lines."""

from __future__ import annotations

import pytest

from relucourse.book import summary


def test_lines_become_a_bullet_list_with_the_computed_numbers(capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # another test may have left one
    chi = 0.0561
    summary.key_results(f"backward gain at n·Var[W] = 1: {chi:.3f}", "  ReLU: 50 % zeros  ")
    assert capsys.readouterr().out.splitlines() == ["- backward gain at n·Var[W] = 1: 0.056",
                                                    "- ReLU: 50 % zeros"]


@pytest.mark.parametrize("lines", [(), ("",), ("ok", "   "), ("ok", 3)])
def test_an_empty_or_non_text_line_is_refused_by_position(lines: tuple) -> None:
    with pytest.raises(ValueError, match="key_results"):
        summary.markdown(lines)
