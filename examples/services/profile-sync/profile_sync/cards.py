"""Profile cards pushed to the CRM."""

from __future__ import annotations

from profile_sync.models import User


def profile_card(user: User) -> dict[str, str | None]:
    """The CRM's view of a user."""
    return {
        "external_id": f"u-{user.id}",
        "name": user.display_name,
        "email": user.email.strip().lower(),
        "city": user.address.city,
    }
