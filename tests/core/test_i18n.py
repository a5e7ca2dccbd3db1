"""Vietnamese is the default and complete; English is one click away."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted((ROOT / "locale" / "vi" / "LC_MESSAGES").glob("*.po"))


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: p.name)
def test_vietnamese_catalogue_is_complete_and_compiled(po_path):
    po = polib.pofile(str(po_path))
    assert po.untranslated_entries() == []
    assert po.fuzzy_entries() == []
    mo = polib.mofile(str(po_path.with_suffix(".mo")))
    compiled = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in mo}
    source = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in po if not e.obsolete}
    assert compiled == source, "the .mo is stale: run `make compilemessages` and commit it"


def test_catalogue_covers_the_code(tmp_path):
    """Every translatable string in the code is in the catalogue (makemessages finds nothing new)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext not installed")
    work = tmp_path / "src"
    shutil.copytree(
        ROOT,
        work,
        ignore=shutil.ignore_patterns(
            ".venv", "staticfiles", ".git", "node_modules", "*.sqlite3*", "__pycache__"
        ),
    )
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "vi", "--no-location", "--no-obsolete",
         "--ignore", "static/vendor/*", "--ignore", "bench/*"],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    fresh = polib.pofile(str(work / "locale/vi/LC_MESSAGES/django.po"))
    assert [e.msgid for e in fresh.untranslated_entries()] == []


@pytest.mark.django_db
def test_vietnamese_by_default_and_english_on_request(client):
    assert "Đăng nhập" in client.get("/accounts/login/").content.decode()
    response = client.post(
        "/i18n/setlang/", {"language": "en", "next": "/accounts/login/"}, follow=True
    )
    body = response.content.decode()
    assert "Log in" in body
    assert '<html lang="en">' in body


@pytest.mark.django_db
def test_dates_and_numbers_follow_the_language(world):
    import datetime as dt

    from django.template import Context, Template
    from django.utils import translation

    template = Template('{{ d|date:"SHORT_DATE_FORMAT" }} {{ n|floatformat:"2g" }}')
    context = Context({"d": dt.date(2021, 8, 15), "n": 12345.5})
    with translation.override("vi"):
        assert template.render(context) == "15/08/2021 12.345,50"
    with translation.override("en"):
        assert template.render(context) == "08/15/2021 12,345.50"
