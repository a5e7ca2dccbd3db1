from django.db import migrations, models

# Frozen copy of roles.ROLE_API_SCOPES as it was when scopes came in: tokens issued
# before then keep working for what their user's roles use the API for.
_ROLE_SCOPES = {
    "admin": ["lab", "partner", "reports", "station"],
    "official": ["reports"],
    "sampler": ["station"],
    "data_entry": ["reports", "station"],
    "courier": ["station"],
    "lab_technician": ["lab"],
    "lab_supervisor": ["lab"],
    "partner": ["partner"],
}


def scope_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    Assignment = apps.get_model("accounts", "Assignment")
    for token in ApiToken.objects.filter(scopes=[]).iterator():
        roles = Assignment.objects.filter(user_id=token.user_id).values_list("role", flat=True)
        scopes = sorted({s for role in roles for s in _ROLE_SCOPES.get(role, [])})
        ApiToken.objects.filter(pk=token.pk).update(scopes=scopes)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(blank=True, default=list, verbose_name="scopes"),
        ),
        migrations.RunPython(scope_existing_tokens, migrations.RunPython.noop),
    ]
