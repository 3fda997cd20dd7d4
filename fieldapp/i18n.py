"""Languages: Simplified Chinese by default, English available (Flask-Babel)."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import Babel, get_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

babel = Babel()

LANGUAGE_COOKIE = "lang"

#: The BCP 47 tag of each language, for <html lang> and for the browser's Intl formats
#: (numbers, dates): Simplified Chinese as written in mainland China; English with day-month
#: dates and a 24-hour clock, never the US month-first order.
LANGUAGE_TAGS = {"zh": "zh-CN", "en": "en-GB"}


def select_locale() -> str:
    """An explicit choice (?lang=en, remembered in a cookie) wins; otherwise the configured
    default (Chinese). Pages deliberately do not follow Accept-Language: the platform is
    Chinese-first and most phones in the field report an English browser locale. The API
    does (a client sending `Accept-Language: en` gets English messages)."""
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and workers speak the default language
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in supported:
        return str(chosen)
    if request.path.startswith("/api/"):
        # An API client (a phone's app, another system) names its language in the standard
        # header; our own pages' scripts pass ?lang= explicitly and win above.
        header = request.headers.get("Accept-Language")
        if header:
            best = _best_language(header, tuple(supported))
            if best:
                return best
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


@lru_cache(maxsize=256)
def _best_language(header: str, supported: tuple[str, ...]) -> str | None:
    """The supported language an Accept-Language header prefers: parsed once per distinct
    header (a fleet of phones sends a handful), not on every API request."""
    best = parse_accept_header(header, LanguageAccept).best_match(supported)
    return str(best) if best else None


def language() -> str:
    """The language code of this request ("zh" or "en"), as select_locale chooses it, without
    having Babel parse it into a Locale: an intake answer needs only the code, and parsing
    cost a report's request more than choosing."""
    return select_locale()


def language_tag(code: str | None = None) -> str:
    """The BCP 47 tag (LANGUAGE_TAGS) of `code`, by default of this request's language."""
    return LANGUAGE_TAGS[code or language()]


def init_babel(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["language_tag"] = language_tag

    @app.after_request
    def remember_language(response: Response) -> Response:
        chosen = request.args.get("lang")
        if chosen is not None and chosen in app.config["LANGUAGES"]:
            response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax")
        return response
