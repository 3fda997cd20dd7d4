"""The document's frame, written once: what the API is (info and its long description),
where it lives, the tags, how callers authenticate, and the answers every operation shares
(401, 500). The operations and their models come from the declarations
(`fieldapp.contract.document` puts them in); descriptions are in English with the Chinese term
the users know, e.g. "零报告"."""

from __future__ import annotations

from typing import Any, Final

from fieldapp.contract.base import error_answer

JSON: Final = "application/json"
ERROR_REF: Final = {"$ref": "#/components/schemas/Error"}

DESCRIPTION: Final = """\
The JSON API of the Rizhao grid platform (日照市网格化矛盾纠纷早报告平台): grid officers
(网格员) file early dispute reports (矛盾纠纷早报告) from their phones, check in daily
(零报告), and staff read the reports of their area.

**Signing in.** `POST /auth/token` with a username and password gives a bearer token for one
device (valid 30 days). Send it as `Authorization: Bearer <token>` on every other call;
`DELETE /auth/token` signs the device out. Failed sign-ins are limited (429 with
`Retry-After`): five per username from one address within 15 minutes, 30 per address over all
usernames; a username guessed at from many addresses is slowed to one attempt a minute from
addresses it never signed in from, never locked for its owner. The reference data
(`/categories`, `/locate`, `/layers/areas`) needs no token.

**Errors.** Every error has one shape:
`{"error": {"code": "…", "message": "…", "fields": {"field": "message"}}}`. `code` is stable
and meant for programs; `message` is for a person, in the request's language; `fields`
(only when input was wrong) names every field that needs correcting, all at once.

**Language (语言).** Chinese by default; `?lang=en` switches to English (and is remembered in a
`lang` cookie). `Accept-Language` is deliberately not followed.

**Coordinates (坐标).** Longitude before latitude, in degrees. Positions are stored in WGS-84;
a phone that took its position from AMap or Tencent (GCJ-02, 火星坐标) or Baidu (BD-09)
says so with `crs`, and the server converts and keeps the original.

**Idempotent intake (幂等).** The phone makes each report's `id` (a UUID) and may resend it
after a lost answer: the same id and body answer 200 with the stored report; the same id
with a different body is a 409. Photos are idempotent on their bytes, check-ins on the day.

**Scope (数据范围).** Reads are narrowed by role and area: officers see their own reports,
coordinators (信访专干) their township's, county staff their county's, city staff
everything. A report outside the caller's scope answers 404, as if it did not exist.
Parties' personal data (ID numbers, phones) is masked in lists, and in a single report for
roles that do not handle the case; each unmasked display is written to the audit log.
Department handlers (责任部门) see the cases assigned to their department.

**Cases (案件办理).** Every report is also a case, with the same id, taken through the closed
loop 发现 → 受理 → 交办 → 办理 → 审查 → 办结 → 回访 by `POST /cases/{id}/actions/{action}`.
Each step sends the `version` the caller saw (乐观锁): a stale one is a 409 and changes
nothing. `GET /cases/{id}` adds the deadline and its warning light (绿灯/黄灯/红灯) to the
report, and `allowed_actions` says which steps the caller may take now.
"""

TAGS: Final[list[dict[str, str]]] = [
    {"name": "auth", "description": "Sign-in tokens for devices (登录令牌)."},
    {"name": "account", "description": "The signed-in user (当前用户) and their grid cells."},
    {
        "name": "reference",
        "description": "Reference data: dispute categories (纠纷类别), locating a point in "
        "the grid (网格定位) and area boundaries (区划边界). No token needed.",
    },
    {"name": "reports", "description": "Early dispute reports (矛盾纠纷早报告)."},
    {"name": "photos", "description": "Photos attached to a report (现场照片)."},
    {"name": "checkins", "description": "Zero reporting check-in (零报告)."},
    {
        "name": "cases",
        "description": "The case workflow (案件办理): a report becomes a case, taken through "
        "受理 → 交办 → 办理 → 审查 → 办结 → 回访; its record, duplicates and work queues.",
    },
    {"name": "notifications", "description": "The in-app inbox (站内消息)."},
    {
        "name": "hotspots",
        "description": "Hotspot alerts (热点预警): where disputes cluster or grow beyond "
        "what is normal; acknowledge and supervise (督办).",
    },
    {"name": "maps", "description": "Map layers (地图图层) for city and county staff."},
    {
        "name": "exports",
        "description": "Exports (导出): case lists and figures by area as xlsx or CSV, areas "
        "as GeoJSON, made by a worker with visible progress, downloadable until they expire.",
    },
    {
        "name": "statistics",
        "description": "Live roll-ups (分级统计), KPIs and rankings (考评), key backlog cases "
        "(重点积案) and their campaign view.",
    },
    {"name": "docs", "description": "This description and its browsable page (接口文档)."},
]


def _error_response(description: str, examples: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": ERROR_REF,
                "examples": {
                    name: {"summary": summary, "value": value}
                    for name, (summary, value) in examples.items()
                },
            }
        },
    }


def frame(server_url: str) -> dict[str, Any]:
    """The document without paths and model schemas: a fresh dict each call."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rizhao grid platform API (日照网格化矛盾纠纷早报告接口)",
            "version": "1.0.0",
            "summary": "Early dispute reports from grid officers, zero reporting and the grid.",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url, "description": "This server (本服务器)"}],
        # Bearer token on every operation unless the operation says `security: []`.
        "security": [{"bearerAuth": []}],
        "tags": [dict(tag) for tag in TAGS],
        "paths": {},
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "opaque",
                    "description": "A token from `POST /auth/token` (登录令牌), sent as "
                    "`Authorization: Bearer <token>`. Valid 30 days; revoked by "
                    "`DELETE /auth/token`.",
                }
            },
            "parameters": {},
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 1},
                    "example": 840,
                }
            },
            "responses": {
                "Unauthorized": _error_response(
                    "No bearer token, or it is unknown, expired or revoked (未登录或登录已失效).",
                    {
                        "no_token": (
                            "No Authorization header",
                            error_answer(
                                "unauthorized",
                                "Sign in first: POST /api/v1/auth/token, then send "
                                "“Authorization: Bearer <token>”.",
                            ),
                        ),
                        "bad_token": (
                            "Unknown, expired or revoked token",
                            error_answer(
                                "unauthorized",
                                "The token is unknown, expired or revoked. Sign in again.",
                            ),
                        ),
                    },
                ),
                "InternalError": _error_response(
                    "Something went wrong on the server; the request changed nothing and may "
                    "be retried.",
                    {
                        "internal": (
                            "Unexpected error",
                            error_answer(
                                "internal_error",
                                "Something went wrong on the server; the request changed "
                                "nothing. Try again.",
                            ),
                        )
                    },
                ),
            },
            "schemas": {},
        },
    }
