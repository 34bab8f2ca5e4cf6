"""The app builds and serves the portal with security headers."""


def test_portal_landing_has_headers_and_no_cookie(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "Content-Security-Policy" in resp.headers
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in resp.headers


def test_unknown_page_is_404_with_headers(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    assert "Content-Security-Policy" in resp.headers
