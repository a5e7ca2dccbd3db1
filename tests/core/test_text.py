import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from swabline.core.text import fold, normalize_text


def test_fold_examples():
    assert fold("Nguyễn Thị Đào") == "nguyen thi dao"
    assert fold("  PHƯỜNG   Bình  Minh ") == "phuong binh minh"
    assert fold("Đắk Lắk") == "dak lak"


def test_normalize_text_makes_nfc_and_collapses_space():
    nfd = unicodedata.normalize("NFD", "Trần  Hưng\tĐạo ")
    assert normalize_text(nfd) == "Trần Hưng Đạo"
    assert unicodedata.is_normalized("NFC", normalize_text(nfd))


@given(st.text())
def test_fold_is_idempotent_and_form_blind(text):
    assert fold(fold(text)) == fold(text)
    assert fold(unicodedata.normalize("NFD", text)) == fold(unicodedata.normalize("NFC", text))


@given(st.text())
def test_normalize_text_is_idempotent(text):
    assert normalize_text(normalize_text(text)) == normalize_text(text)
