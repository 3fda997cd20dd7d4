"""Every error page a browser can get from the app (400, 401, 403, 404, 405, 413, 500, 503)
shows its heading once, with a sentence under it saying what to do next, in Chinese and in
English. The app runs against a database that cannot be reached, so the 503 is the real one
(fieldapp.errors.unavailable_response), and no database is needed."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient

from fieldapp import create_app
from fieldapp.i18n import LANGUAGE_TAGS

DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/none"

#: Pages follow ?lang= (and its cookie), not Accept-Language (fieldapp.i18n.select_locale);
#: each language sends both, as a browser set to that language would after choosing it.
LANGUAGES = {
    "zh": ({"Accept-Language": "zh-CN,zh;q=0.9"}, "zh"),
    "en": ({"Accept-Language": "en-US,en;q=0.9"}, "en"),
}


@pytest.fixture(scope="module")
def app() -> Flask:
    app = create_app({"DATABASE_URL": DEAD_DATABASE, "CELERY_BROKER_URL": "memory://",
                      "SECRET_KEY": "t", "MAX_CONTENT_LENGTH": 1000})  # fmt: skip

    @app.get("/_error/<int:status>")
    def fail(status: int) -> str:
        abort(status)

    @app.get("/_boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    @app.get("/_database")
    def database() -> str:
        from sqlalchemy import text

        from fieldapp.db import db

        db.session.execute(text("select 1"))  # the database is unreachable: 503
        return "unreachable"

    return app


def _get(client: FlaskClient, method: str, path: str, lang: str) -> tuple[int, str, dict]:
    headers, chosen = LANGUAGES[lang]
    sep = "&" if "?" in path else "?"
    kwargs = {"data": b"x" * 2000} if path.endswith("413") else {}
    response = getattr(client, method)(f"{path}{sep}lang={chosen}", headers=headers, **kwargs)
    assert response.mimetype == "text/html", response.get_data(as_text=True)
    return response.status_code, response.get_data(as_text=True), dict(response.headers)


def _visible_texts(page: str) -> tuple[str, list[str]]:
    """The <h1> and every other piece of text in <body>, each as shown (tags stripped)."""
    body = page.split("<body", 1)[1]
    [heading] = re.findall(r"<h1[^>]*>(.*?)</h1>", body, flags=re.S)
    rest = re.sub(r"<h1[^>]*>.*?</h1>", " ", body, flags=re.S)
    texts = [unescape(t).strip() for t in re.split(r"<[^>]+>", rest)]
    return unescape(heading).strip(), [t for t in texts if t]


CASES = [
    ("get", "/_error/400", 400),
    ("get", "/_error/401", 401),
    ("get", "/_error/403", 403),
    ("get", "/nowhere", 404),
    ("post", "/_error/405", 405),  # the route takes GET only
    ("post", "/_error/413", 413),  # a body over MAX_CONTENT_LENGTH
    ("get", "/_boom", 500),
    ("get", "/_database", 503),
    ("get", "/", 503),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("method", "path", "status"), CASES)
def test_an_error_page_shows_its_heading_once_and_what_to_do_next(
    app: Flask, method: str, path: str, status: int, lang: str
) -> None:
    got, page, headers = _get(app.test_client(), method, path, lang)
    assert got == status, page
    assert f'lang="{LANGUAGE_TAGS[lang]}"' in page
    heading, texts = _visible_texts(page)
    assert heading
    # Once: no other text of the page repeats the heading, or opens with it.
    assert not [t for t in texts if heading.lower() in t.lower()], (heading, texts)
    # Under it a sentence saying what to do next, in the page's language.
    [sentence] = re.findall(r'<p class="error-message">(.*?)</p>', page, flags=re.S)
    sentence = unescape(sentence)
    assert len(sentence) > len(heading)
    if lang == "zh":
        assert re.search("[\u4e00-\u9fff]", heading + sentence), (heading, sentence)
        assert not re.search("[A-Za-z]{3,}", heading + sentence), (heading, sentence)
    else:
        assert not re.search("[\u4e00-\u9fff]", heading + sentence), (heading, sentence)
    if status == 503:
        assert headers["Retry-After"] == "5"
    if status == 405:
        assert headers["Allow"]
    assert "a bug" not in page


def test_the_503_page_in_chinese(app: Flask) -> None:
    """The page users saw: 服务暂时不可用 once, then what to do."""
    status, page, _ = _get(app.test_client(), "get", "/", "zh")
    assert status == 503
    heading, texts = _visible_texts(page)
    assert heading == "服务暂时不可用"
    assert "本次未保存任何内容。请几秒钟后重试。" in texts
    assert page.split("<body", 1)[1].count("服务暂时不可用") == 1


def test_the_api_keeps_its_json_errors(app: Flask) -> None:
    """The page change leaves the API's error shape alone."""
    response = app.test_client().get("/api/v1/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
