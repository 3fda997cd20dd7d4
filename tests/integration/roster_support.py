"""Helpers for the roster, people and account tests: files, web sign-in."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

HEADER = "姓名,手机号,角色,网格编码,区域编码,身份证号,到岗日期,离岗日期"
# A valid resident ID number (check digit computed per GB 11643).
ID_OK = "11010519491231002X"


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8-sig") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str) -> None:
    token = csrf(client)
    r = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
