from __future__ import annotations

from swabline.notifications import messages


def test_ascii_only_strips_vietnamese_diacritics():
    assert messages.ascii_only("Kết quả: ÂM TÍNH, đến điểm lấy mẫu") == (
        "Ket qua: AM TINH, den diem lay mau"
    )


def test_segments_gsm7_and_ucs2():
    assert messages.segments("a" * 160) == 1
    assert messages.segments("a" * 161) == 2
    assert messages.segments("ă" * 70) == 1
    assert messages.segments("ă" * 71) == 2
    assert messages.segments("ă" * 135) == 3


def test_long_messages_fall_back_to_the_short_form(settings):
    settings.NOTIFY_LANGUAGE = "en"
    settings.NOTIFY_SMS_MAX_SEGMENTS = 1
    settings.PUBLIC_BASE_URL = "https://kq.example.vn"
    text = messages.sms_text("positive", "ABCDEFGH")
    assert text == "Swabline ABCD-EFGH: POSITIVE, stay at home. https://kq.example.vn/lookup/"
    settings.NOTIFY_SMS_MAX_SEGMENTS = 3
    long = messages.sms_text("positive", "ABCDEFGH")
    assert long.startswith("Swabline: the test result of code ABCD-EFGH is POSITIVE. Stay at home")


def test_every_state_says_the_code_and_the_address(settings):
    settings.NOTIFY_LANGUAGE = "en"
    for state in ("negative", "positive", "recall", "recollect"):
        text = messages.render(state, "ABCDEFGH", corrected=True)
        assert "ABCD-EFGH" in text.body and "/lookup/" in text.body
        assert text.body.startswith("Corrected result.")
