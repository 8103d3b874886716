"""The guide pages show the example apps' code as it is: every code block of
docs/guides/flask.md and docs/guides/express.md is a verbatim excerpt of the example app
that test_flask_app.py / test_express_app.py run, so a page cannot drift from its app."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)\n```", (ROOT / page).read_text(), flags=re.S)


def is_excerpt(block: str, source: str) -> bool:
    """In the source as is, or one level (4 spaces) deeper: a function body shown dedented."""
    return block in source or textwrap.indent(block, "    ") in source


# Pages whose code blocks are excerpts of a runnable example app (tests/test_docs.py leaves
# them to this test; the apps themselves run in tests/examples/scenario.py).
EXCERPT_PAGES = {
    "docs/guides/flask.md": {"python": "examples/flask_app/app.py", "javascript": "examples/browser/index.html"},
    "docs/guides/express.md": {"javascript": "examples/express_app/app.mjs"},
}


@pytest.mark.parametrize("page, sources", sorted(EXCERPT_PAGES.items()))
def test_guide_code_is_the_example_apps_code(page, sources):
    for language, path in sources.items():
        source = (ROOT / path).read_text()
        found = blocks(page, language)
        assert found, f"no {language} block in {page}"
        for block in found:
            assert is_excerpt(block, source), f"{page}: this {language} block is not in {path}:\n{block}"
