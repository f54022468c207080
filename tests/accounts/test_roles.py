"""The roles are groups with their permissions, made by a reversible migration."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.permissions import PERMISSIONS, Action
from accounts.roles import ROLE_PERMISSIONS, ROLES

EXPECTED = {
    "Viewer": set(),
    "Operator": {"change_station_state"},
    "Supervisor": {
        "change_station_state",
        "replace_station_state",
        "force_auto_state",
        "reset_part_count",
        "view_audit",
    },
    "Manager": {"view_reviews", "view_audit", "manage_alerts"},
    "Administrator": {
        "change_station_state",
        "replace_station_state",
        "force_auto_state",
        "reset_part_count",
        "view_reviews",
        "view_audit",
        "manage_alerts",
    },
}


def role_permissions() -> dict[str, set[str]]:
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.filter(name__in=EXPECTED).prefetch_related(
            "permissions__content_type"
        )
    }


@pytest.mark.django_db
def test_each_role_exists_after_migrate_with_its_permissions():
    found = role_permissions()
    assert found == {
        name: {f"accounts.{codename}" for codename in codenames}
        for name, codenames in EXPECTED.items()
    }
    assert {name: set(codenames) for name, codenames in ROLE_PERMISSIONS.items()} == EXPECTED
    assert set(ROLES) == set(EXPECTED)


@pytest.mark.django_db
def test_a_role_gives_its_users_the_actions(django_user_model):
    operator = django_user_model.objects.create_user("op", password="x" * 12)
    operator.groups.add(Group.objects.get(name="Operator"))
    assert operator.has_perm(PERMISSIONS[Action.CHANGE_STATE])
    assert not operator.has_perm(PERMISSIONS[Action.RESET_PARTS])
    viewer = django_user_model.objects.create_user("viewer", password="x" * 12)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    assert not any(viewer.has_perm(p) for p in PERMISSIONS.values())


@pytest.mark.django_db(transaction=True)
def test_the_roles_migration_is_reversible():
    call_command("migrate", "accounts", "0001", verbosity=0)
    assert not Group.objects.filter(name__in=EXPECTED).exists()
    call_command("migrate", "accounts", verbosity=0)
    assert set(role_permissions()) == set(EXPECTED)
