"""The strength rules for a password a person chooses (their own account page). Pure: no
database. One-time passwords are random (fieldapp.services.roster.one_time_password)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldapp.services.errors import InvalidInput

MIN_LENGTH = 10
# The most used passwords in Chinese and international leaks (CSDN 2011, RockYou, the yearly
# lists) that are long enough to pass the length rule; compared case-insensitively.
COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "a123456789",
        "0123456789",
        "9876543210",
        "1111111111",
        "0000000000",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "qwertyuiop",
        "qwerty1234",
        "qwe1234567",
        "asdfghjkl;",
        "abcd123456",
        "abc1234567",
        "abcdefghij",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "woaini1314",
        "woaini5201314",
        "5201314520",
        "1314520520",
        "admin12345",
        "admin123456",
        "administrator",
        "zxcvbnm123",
        "1234qwerasdf",
        "147258369a",
        "1472583690",
        "3141592653",
        "rizhao1234",
        "rizhao123456",
    }
)

RULES = (
    _l("At least %(n)d characters.", n=MIN_LENGTH),
    _l("Not your username or phone number, and not containing them."),
    _l("Not a common password (such as 1234567890 or qwertyuiop)."),
)


def check_strength(password: str, *, username: str, phone: str | None) -> None:
    """InvalidInput naming the rule `password` breaks, or nothing."""
    field = "new_password"
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            _("The password is too short."),
            {field: _("At least %(n)d characters.", n=MIN_LENGTH)},
        )
    lowered = password.lower()
    for own in (username, phone):
        if own and len(own) >= 4 and own.lower() in lowered:
            raise InvalidInput(
                _("The password must not contain your username or phone number."),
                {field: _("Choose something else.")},
            )
    if lowered in COMMON or len(set(lowered)) <= 2:
        raise InvalidInput(_("This password is too common."), {field: _("Choose something else.")})
