"""Signing in (登录令牌) and the signed-in user (当前用户)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import lazy_gettext
from pydantic import AfterValidator, Field, StringConstraints

from fieldapp.contract.base import (
    AnswerModel,
    BodyModel,
    ErrorDoc,
    Named,
    Text,
    check_text,
    error_answer,
)
from fieldapp.contract.reference import AreaLevelName
from fieldapp.services.passwords import MIN_LENGTH

#: A password as typed: not trimmed (spaces may be part of it), never empty.
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), AfterValidator(check_text)
]


#: fieldapp.services.accounts.ROLES (checked equal in tests/unit/test_contract.py).
Role = Literal["officer", "coordinator", "county", "city", "department", "admin"]
RoleName = Annotated[
    Role,
    Named(
        "Role",
        "`officer` grid officer (网格员); `coordinator` township coordinator (乡镇信访专干); "
        "`county` county-level staff (区县); `city` city staff (市级); `department` handler in a "
        "responsible department (责任部门); `admin` administrator (管理员).",
    ),
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


class PasswordChangeRequest(TokenRequest):
    """Credentials (the current or one-time password), the user's own new password, and the
    device the new token is for."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "first_sign_in": (
            "An officer enrolled from the roster replaces the one-time password on a phone",
            {
                "username": "wgy0311",
                "password": "one-time-from-the-roster",
                "new_password": "correct horse battery",
                "device": "华为 Mate 60 / field app",
            },
        )
    }

    new_password: Password = Field(
        description=f"The user's own new password (新密码): at least {MIN_LENGTH} characters, "
        "not common, not containing the username or phone number, not the current one."
    )


class UserSummary(AnswerModel):
    """Who signed in."""

    id: int
    username: str
    display_name: str = Field(description="Name shown to others (姓名).")
    role: RoleName


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


#: Examples of a sign-in body refused.
_BODY_REFUSED: Final[Mapping[str, tuple[str, Any]]] = {
    "invalid_json": (
        "The body is not JSON",
        error_answer("invalid_json", "The body must be JSON (Content-Type: application/json)."),
    ),
    "missing": (
        "No password",
        error_answer(
            "invalid_parameters",
            "Username and password are required.",
            {"password": "Required."},
        ),
    ),
}

#: The errors of `POST /auth/token`.
TOKEN_ERRORS: Final[dict[int, ErrorDoc]] = {
    400: (
        "The body is not JSON, or the username or password is missing.",
        _BODY_REFUSED,
    ),
    401: (
        "Wrong username or password, or the account is disabled.",
        {
            "wrong": (
                "Wrong credentials",
                error_answer("unauthorized", "Wrong username or password."),
            )
        },
    ),
    429: (
        "Too many failed sign-ins (登录失败次数过多) for this username from this address, from "
        "this address over all usernames, or for this username from unknown addresses while it "
        "is being guessed at. `Retry-After` says how many seconds to wait.",
        {
            "locked": (
                "Locked for the rest of the window",
                error_answer("rate_limited", "Too many failed sign-ins. Try again in 14 minutes."),
            )
        },
        {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
    ),
    403: (
        "The password is a one-time password (set by an administrator or the roster import): "
        "no token is issued until the user chooses their own with `POST /auth/password`.",
        {
            "one_time": (
                "One-time password",
                error_answer(
                    "password_change_required",
                    "This is a one-time password: choose your own password to sign in.",
                ),
            )
        },
    ),
}

#: The errors of `POST /auth/password`: those of signing in, and a new password refused.
PASSWORD_ERRORS: Final[dict[int, ErrorDoc]] = {
    **{status: doc for status, doc in TOKEN_ERRORS.items() if status != 403},
    400: (
        "The body is not JSON, something is missing, or the new password is refused (too short, "
        "too common, contains the username or phone number, or is the current one).",
        {
            **_BODY_REFUSED,
            "weak": (
                "A new password too short",
                error_answer(
                    "invalid_input",
                    "The password is too short.",
                    {"new_password": f"At least {MIN_LENGTH} characters."},
                ),
            ),
        },
    ),
}


class CodeName(AnswerModel):
    """An area by code and name."""

    code: str = Field(description="Area code (区划代码).")
    name: str


class AreaSummary(AnswerModel):
    """An area by code, name and level."""

    code: str
    name: str
    level: AreaLevelName


class OfficerCell(AnswerModel):
    """A grid cell an officer is responsible for (责任网格)."""

    id: int
    code: str
    name: str
    village: CodeName = Field(description="Village or community (村/社区).")
    township: CodeName = Field(description="Township (乡镇/街道).")


def _cell(n: int) -> dict[str, Any]:
    return {
        "id": 10410 + n,
        "code": f"37110200100300{n}",
        "name": f"海曲社区第{n}网格（示例）",
        "village": {"code": "371102001003", "name": "海曲社区（示例）"},
        "township": {"code": "371102001", "name": "日照街道"},
    }


class Me(AnswerModel):
    """The signed-in user, their area and grid cells (当前用户)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "officer": (
            "A grid officer with two cells",
            {
                "id": 311,
                "username": "wgy0311",
                "display_name": "网格员0311（示例）",
                "role": "officer",
                "area": None,
                "cells": [_cell(1), _cell(2)],
            },
        ),
        "coordinator": (
            "A township coordinator (信访专干)",
            {
                "id": 42,
                "username": "xfzg_rizhao",
                "display_name": "日照街道信访专干",
                "role": "coordinator",
                "area": {"code": "371102001", "name": "日照街道", "level": "township"},
                "cells": [],
            },
        ),
    }

    id: int
    username: str
    display_name: str
    role: RoleName
    area: AreaSummary | None = Field(
        description="The area a staff member is responsible for; null for officers."
    )
    cells: list[OfficerCell] = Field(description="An officer's cells, by code; empty for staff.")
