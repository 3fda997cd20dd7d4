"""Signing in (登录令牌) and the signed-in user (当前用户)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from flask_babel import lazy_gettext
from pydantic import AfterValidator, Field, StringConstraints

from fieldapp.contract.base import AnswerModel, BodyModel, Text, check_text

#: A password as typed: not trimmed (spaces may be part of it), never empty.
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), AfterValidator(check_text)
]


#: fieldapp.services.accounts.ROLES (checked equal in tests/unit/test_contract.py).
Role = Literal["officer", "coordinator", "county", "city", "department", "admin"]


class TokenRequest(BodyModel):
    """Credentials and the device the token is for."""

    error_summary: ClassVar[Any] = lazy_gettext("Username and password are required.")
    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "officer_phone": (
            "An officer signs in on a phone",
            {
                "username": "wgy0311",
                "password": "correct horse battery",
                "device": "华为 Mate 60 / field app",
            },
        )
    }

    username: Annotated[Text, Field(min_length=1, max_length=150)] = Field(
        description="The sign-in name (用户名)."
    )
    password: Password = Field(description="The password (密码).")
    device: Annotated[Text, Field(max_length=100)] = Field(
        default="unknown",
        description="What the token is for, shown in the user's list of signed-in devices.",
    )


class UserSummary(AnswerModel):
    """Who signed in."""

    id: int
    username: str
    display_name: str = Field(description="Name shown to others (姓名).")
    role: Role


class TokenResponse(AnswerModel):
    """A new bearer token (登录令牌)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "signed_in": (
            "A new token",
            {
                "token": "EXAMPLE-ONLY-not-a-real-token-0123456789abc",
                "expires_at": "2026-12-25T01:40:03.118204+00:00",
                "user": {
                    "id": 311,
                    "username": "wgy0311",
                    "display_name": "网格员0311（示例）",
                    "role": "officer",
                },
            },
        )
    }

    token: str = Field(
        description="The bearer token. Only its hash is stored: keep it, it cannot be shown again."
    )
    expires_at: dt.datetime
    user: UserSummary
