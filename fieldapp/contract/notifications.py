"""The in-app inbox (站内消息)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import Field

from fieldapp.contract.base import AnswerModel


class Notification(AnswerModel):
    """A message in the in-app inbox (站内消息)."""

    id: int
    kind: str = Field(
        description="What happened, e.g. `report.new`, `report.duplicate`, `case.assign`, "
        "`case.escalate`, `case.supervise`, `case.request_closing`, "
        "`case.request_extension`, `case.return`, `light.yellow`, `light.red`, "
        "`hotspot.new`, `hotspot.supervise`.",
        examples=["case.assign"],
    )
    text: str = Field(max_length=300, description="In Chinese.")
    subject_id: str = Field(
        description="What it is about: a report id, `<case id>:<version>` or `<case id>:<due "
        "time>` for case steps and lights, an alert id."
    )
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationList(AnswerModel):
    """The caller's notifications, newest first, at most 50."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "inbox": (
            "A department handler's inbox",
            {
                "notifications": [
                    {
                        "id": 7,
                        "kind": "case.assign",
                        "text": "新交办：邻里因排水沟堵塞争执",
                        "subject_id": "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23:3",
                        "created_at": "2026-11-25T02:10:00.412377+00:00",
                        "read_at": None,
                    }
                ]
            },
        )
    }

    notifications: list[Notification]
