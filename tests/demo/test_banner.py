"""`make run`'s banner says how the demo's staff logins pass the second factor."""

from __future__ import annotations

from swabline.demo.management.commands.serve_demo import Command


def test_the_banner_explains_the_second_factor(settings):
    settings.REQUIRE_TWO_FACTOR = True
    settings.TWO_FACTOR_ROLES = ["admin", "official"]
    note = " ".join(Command()._two_factor_note())
    assert "(admin, official)" in note and "authenticator app" in note
    assert "REQUIRE_TWO_FACTOR=0 make run" in note
    settings.REQUIRE_TWO_FACTOR = False
    assert "off" in Command()._two_factor_note()[0]
