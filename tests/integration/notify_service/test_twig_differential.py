"""Twig compatibility shown, not claimed: the corpus rendered by Debian's php-twig and by ours.

The reference engine is installed by bin/setup (``apt-get install php-cli php-twig``);
without ``php`` these tests are skipped with that reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.templates import TemplateDate, TemplateProblem, compile_template, render, render_html
from tests.integration.notify_service.twig.corpus import CONTEXT, DIFFERENT, REFUSED, TEMPLATES

RENDERER = Path(__file__).parent / "twig" / "render.php"
TWIG_AUTOLOAD = Path("/usr/share/php/Twig/autoload.php")

needs_php = pytest.mark.skipif(
    shutil.which("php") is None or not TWIG_AUTOLOAD.exists(),
    reason="the reference Twig engine is not installed (apt-get install php-cli php-twig)",
)


def ours_context(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ours_context(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ours_context(v) for v in value]
    if isinstance(value, date):
        return TemplateDate(value)  # as invite_email_context passes due_date
    return value


def php_context(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: php_context(v) for k, v in value.items()}
    if isinstance(value, list):
        return [php_context(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()  # what invite_service would hand Twig: the date string
    return value


def twig_render(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["php", str(RENDERER)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def ours(template: str, html: bool) -> dict[str, Any]:
    try:
        compile_template(template)
        out = (render_html if html else render)(template, ours_context(CONTEXT))
    except TemplateProblem as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "out": out}


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    if shutil.which("php") is None or not TWIG_AUTOLOAD.exists():
        pytest.skip("the reference Twig engine is not installed (apt-get install php-cli php-twig)")
    cases = [
        {"template": t, "context": php_context(CONTEXT), "autoescape": mode}
        for t in TEMPLATES
        for mode in (False, "html")
    ]
    return twig_render(cases)


@needs_php
@pytest.mark.parametrize("index", range(len(TEMPLATES)))
def test_corpus_renders_like_twig_in_text_and_html(reference, index):
    template = TEMPLATES[index]
    for offset, html in ((0, False), (1, True)):
        expected = reference[2 * index + offset]
        got = ours(template, html)
        assert expected["ok"], f"the corpus has a template Twig refuses: {expected}"
        assert got == expected, f"{'html' if html else 'text'}: {template!r}"


def test_corpus_is_large_enough():
    assert len(TEMPLATES) >= 60


@pytest.mark.parametrize("template", REFUSED)
def test_twig_incompatible_syntax_is_refused_when_saved(template):
    with pytest.raises(TemplateProblem) as info:
        compile_template(template)
    assert info.value.line == 1


@needs_php
def test_documented_differences_are_still_the_only_ones():
    """The DIFFERENT entries are listed in TWIG_DIFFERENCES.md; if one starts to agree, say so."""
    cases = [
        {"template": t, "context": php_context(CONTEXT), "autoescape": False} for t in DIFFERENT
    ]
    for template, expected in zip(DIFFERENT, twig_render(cases), strict=True):
        assert expected != ours(template, False), f"now the same, update the docs: {template!r}"


@needs_php
def test_reference_engine_is_the_debian_one():
    version = subprocess.run(
        ["php", "-r", f"require '{TWIG_AUTOLOAD}'; echo \\Twig\\Environment::VERSION;"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert version.startswith("3.")
