from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swabline.sampling.codes import (
    damm_digit,
    display_name,
    format_tube_code,
    is_valid_damm,
    looks_generated,
    new_tube_code,
    normalize_tube_code,
)

bodies = st.text(alphabet="0123456789", min_size=11, max_size=11)


def test_damm_known_values():
    assert damm_digit("572") == "4"  # the algorithm's published example
    assert is_valid_damm("5724")
    assert not is_valid_damm("5274")
    assert not is_valid_damm("57a4")


@given(bodies, st.integers(0, 10), st.integers(1, 9))
def test_damm_catches_every_single_digit_error(body, index, delta):
    code = body + damm_digit(body)
    digit = (int(code[index]) + delta) % 10
    wrong = code[:index] + str(digit) + code[index + 1 :]
    assert not is_valid_damm(wrong)


@given(bodies, st.integers(0, 10))
def test_damm_catches_every_adjacent_swap(body, index):
    code = body + damm_digit(body)
    if code[index] == code[index + 1]:
        return
    swapped = code[:index] + code[index + 1] + code[index] + code[index + 2 :]
    assert not is_valid_damm(swapped)


def test_new_codes_are_numeric_checked_and_never_look_like_a_cccd():
    for _ in range(200):
        code = new_tube_code()
        assert len(code) == 12 and code.isdigit() and code[0] != "0"
        assert is_valid_damm(code)
        assert looks_generated(code)
    assert not looks_generated("079061012345")  # a CCCD number starts with 0


def test_normalize_and_format():
    assert normalize_tube_code(" 1234 5678\u200b9012\r\n") == "123456789012"
    assert normalize_tube_code("vn-00042") == "VN-00042"
    assert format_tube_code("123456789012") == "1234 5678 9012"
    assert format_tube_code("VN-00042") == "VN-00042"


def test_display_name_keeps_the_family_name_and_initials():
    assert display_name("Nguyễn Thị Bích Ngọc") == "Nguyễn T. B. N."
    assert display_name("  Đỗ  Văn Đức ") == "Đỗ V. Đ."
    assert display_name("Nguye\u0302\u0303n A") == "Nguyễn A."  # NFD in, NFC out
    assert display_name("Ơn") == "Ơn"
    assert display_name("") == ""
