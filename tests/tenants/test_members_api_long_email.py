"""An address longer than User.username (150) but valid (<= 254) is a member, not a 500."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from tenants.usernames import username_for_email


def test_long_emails_get_distinct_usernames_that_fit() -> None:
    a = "a" * 140 + "@" + "x" * 60 + ".example.com"
    b = "a" * 140 + "@" + "y" * 60 + ".example.com"
    assert len(username_for_email(a)) == 150 and username_for_email(a) != username_for_email(b)
    assert username_for_email("short@example.com") == "short@example.com"


def test_a_254_character_address_is_added_through_the_api(owner_a, api) -> None:
    email = "0@" + "0" * 63 + "." + "a" * 63 + "." + "a" * 63 + "." + "a" * 56 + ".com"
    assert len(email) <= 254
    resp = api(user=owner_a.user, tenant="acme").post(
        "/api/v1/members/", {"email": email, "role": "viewer"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    user = get_user_model().objects.get(email=email)
    assert len(user.username) <= 150 and user.username == username_for_email(email)
