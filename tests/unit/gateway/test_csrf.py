from services.gateway.domain.csrf import (
    cross_origin_refusal,
    new_csrf_token,
    origin_of,
    token_refusal,
    tokens_match,
)

ALLOWED = {"https://invites.example.edu", "http://127.0.0.1:8080"}


def test_origin_normalisation():
    assert origin_of("https://Invites.Example.edu:443/x?y") == "https://invites.example.edu"
    assert origin_of("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert origin_of("http://host:80") == "http://host"


def test_same_origin_and_absent_origin_pass():
    assert cross_origin_refusal(origin=None, sec_fetch_site=None, allowed_origins=ALLOWED) is None
    assert (
        cross_origin_refusal(
            origin="https://invites.example.edu",
            sec_fetch_site="same-origin",
            allowed_origins=ALLOWED,
        )
        is None
    )


def test_other_origin_null_origin_and_cross_site_fetch_are_refused():
    for origin in ("https://evil.example", "null", "https://invites.example.edu.evil.example"):
        assert cross_origin_refusal(origin=origin, sec_fetch_site=None, allowed_origins=ALLOWED)
    assert cross_origin_refusal(origin=None, sec_fetch_site="cross-site", allowed_origins=ALLOWED)


def test_null_origin_passes_only_when_the_browser_says_same_origin():
    # Our no-referrer student pages post with "Origin: null"; the browser still
    # sends Sec-Fetch-Site, which a page cannot forge.
    assert (
        cross_origin_refusal(origin="null", sec_fetch_site="same-origin", allowed_origins=ALLOWED)
        is None
    )
    for site in (None, "same-site", "none", "cross-site"):
        assert cross_origin_refusal(origin="null", sec_fetch_site=site, allowed_origins=ALLOWED)


def test_synchronizer_token():
    token = new_csrf_token()
    assert len(token) >= 40 and token != new_csrf_token()
    assert tokens_match(token, token) and not tokens_match(token, token + "x")
    assert not tokens_match(None, None)
    assert token_refusal(expected=token, given=token, required=True) is None
    assert token_refusal(expected=token, given=None, required=True) == "CSRF token missing"
    assert token_refusal(expected=token, given=None, required=False) is None
    assert token_refusal(expected=token, given="forged", required=False)
