"""The platform's fixed vocabulary that is not a translated label: the time zone every date is
read and shown in, and the severity levels in their order of urgency and their colours. Plain
constants with no Flask import, so pure modules (deadlines, statistics, the demo generators)
and the API's typed models use the same ones; the words a person reads for them live in
`fieldapp/labels.py`."""

from __future__ import annotations

from typing import Final, Literal
from zoneinfo import ZoneInfo

# Rizhao's local time; every date a person types or reads is in it (the database stores UTC).
CHINA_TZ: Final = ZoneInfo("Asia/Shanghai")

Severity = Literal["red", "orange", "yellow"]
# Most urgent first: queues, exports and legends list them in this order.
SEVERITIES: Final[tuple[Severity, ...]] = ("red", "orange", "yellow")
# The one palette of the levels: the city map's markers, the dashboard's chart and every page's
# badges (templates get it as CSS variables --sev-<level>, scripts in their JSON config).
SEVERITY_COLOURS: Final[dict[Severity, str]] = {
    "red": "#d7191c",
    "orange": "#f07c16",
    "yellow": "#e6c200",
}
