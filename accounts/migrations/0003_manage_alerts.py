"""Managers and administrators edit alert rules, webhooks and report subscriptions.

Written out, not imported, as in ``0002_roles``.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTED_TO = ("Manager", "Administrator")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("accounts")
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = previous
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    profile_type = ContentType.objects.db_manager(db).get_for_model(
        apps.get_model("accounts", "Profile")
    )
    permission = Permission.objects.using(db).get(
        content_type=profile_type, codename="manage_alerts"
    )
    for group in Group.objects.using(db).filter(name__in=GRANTED_TO):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.using(schema_editor.connection.alias).filter(
        codename="manage_alerts", content_type__app_label="accounts"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles")]

    operations = [
        migrations.AlterModelOptions(
            name="profile",
            options={
                "permissions": [
                    ("change_station_state", "Can change a station's state"),
                    ("replace_station_state", "Can replace a station's current state"),
                    ("force_auto_state", "Can force a station's automatic state"),
                    ("reset_part_count", "Can reset a station's part count"),
                    ("view_reviews", "Can see shift reviews and exports"),
                    ("view_audit", "Can see the audit trail"),
                    ("manage_alerts", "Can edit alert rules, webhooks and report subscriptions"),
                ],
                "verbose_name": "profile",
                "verbose_name_plural": "profiles",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
