"""A user's profile, read one way: the stations they are limited to, their own CWork API key
and their language all come from ``profile_of``.

A user may have no profile row: ``createsuperuser`` makes none, nor does the admin's user
form when its profile part is left as it is. Such a user reads as a blank profile (no station
limit, no own key, the plant's language) that is not saved; the preferences page saves it
when the user saves their choices there.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Profile


def profile_of(user: Any) -> Profile:
    """``user``'s profile (a signed-in user), or a blank unsaved one when they have none.

    Reads ``user.profile``, so a ``select_related`` or ``prefetch_related`` of it is used."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile(user=user)
