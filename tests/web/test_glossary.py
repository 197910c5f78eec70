"""The glossary: every term with its definition and formula, searchable, and the tooltips."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.factories import SalesOrg
from tests.web.helpers import login
from topline.analytics.glossary import BY_SLUG, TERMS, define, search


def test_every_term_has_a_unique_slug_and_a_sentence() -> None:
    assert len(BY_SLUG) == len(TERMS)
    assert all(term.definition.endswith(".") for term in TERMS)
    assert define("pipeline-coverage") == (
        "How many times the open pipeline closing in the period covers what is left of the "
        "quota. (open pipeline closing in the period / (quota − won so far))"
    )


def test_search_keeps_terms_containing_every_word() -> None:
    assert [term.slug for term in search("NRR")] == ["nrr"]
    assert {term.slug for term in search("stage probability")} >= {
        "weighted-pipeline",
        "stage-weighted",
    }
    assert search("no such words here") == []


def test_the_page_lists_every_term_and_filters(client: TestClient, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    everything = client.get("/glossary")
    some = client.get("/glossary", params={"q": "bant"})
    nothing = client.get("/glossary", params={"q": "zzz"})

    assert everything.status_code == 200
    assert all(f'<dt id="{term.slug}">' in everything.text for term in TERMS)
    assert '<code class="formula">won / (won + lost)</code>' in everything.text
    assert '<dt id="bant">' in some.text and '<dt id="mql">' not in some.text
    assert "No term matches" in nothing.text


def test_the_dashboard_shows_definitions_as_tooltips(client: TestClient, org: SalesOrg) -> None:
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/dashboard", params={"as_of": "2025-02-20"})

    assert f'<abbr title="{define("win-rate")}">Win rate</abbr>' in page.text.replace("&#39;", "'")
