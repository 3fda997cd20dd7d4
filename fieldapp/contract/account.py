"""Signing in (登录令牌) and the signed-in user (当前用户)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from flask_babel import lazy_gettext
from pydantic import AfterValidator, Field, StringConstraints

from fieldapp.contract.base import BodyModel, Text, check_text

#: A password as typed: not trimmed (spaces may be part of it), never empty.
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), AfterValidator(check_text)
]


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
