"""The roles as Django groups with their permissions (see ``accounts.roles``).

The permissions themselves are only created after ``migrate`` has run every migration, so
they are created here first (``create_permissions`` accepts this historical app config once
it claims a models module).

The names and codenames are written out here, not imported: a migration must keep doing
what it did when it was written.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Viewer": (),
    "Operator": ("change_station_state",),
    "Supervisor": (
        "change_station_state",
        "replace_station_state",
        "force_auto_state",
        "reset_part_count",
        "view_audit",
    ),
    "Manager": ("view_reviews", "view_audit"),
    "Administrator": (
        "change_station_state",
        "replace_station_state",
        "force_auto_state",
        "reset_part_count",
        "view_reviews",
        "view_audit",
    ),
}


def create_roles(apps, schema_editor):
    app_config = apps.get_app_config("accounts")
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = previous

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    profile_type = ContentType.objects.db_manager(db).get_for_model(
        apps.get_model("accounts", "Profile")
    )
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(db).get_or_create(name=name)
        permissions = Permission.objects.using(db).filter(
            content_type=profile_type, codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing for the role {name}: {sorted(missing)}")
        group.permissions.set(permissions)


def delete_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
