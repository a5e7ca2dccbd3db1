"""The person QR payload: format, check character, tolerance, and real decoding.

The SVG is checked without an SVG rasteriser (none is installed in the venv): its
path is read back into a module matrix, compared with segno's matrix, then drawn
with Pillow and decoded with zxing-cpp.
"""

from __future__ import annotations

import base64
import io
import re

import pytest
import segno
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from swabline.people import qr
from swabline.people.codes import new_person_code, new_qr_token
from swabline.people.models import Person

ALPHANUMERIC = re.compile(r"^[0-9A-Z $%*+\-./:]+$")
TOKEN = "G4Q7ZK2M5XWUAJ3C6NVPEYRHLA"

tokens = st.binary(min_size=16, max_size=16).map(
    lambda raw: base64.b32encode(raw).decode().rstrip("=")
)
names = st.text(min_size=0, max_size=60)
years = st.integers(min_value=qr.MIN_YEAR, max_value=qr.MAX_YEAR)


def person(full_name: str = "Nguyễn Thị Bích Ngọc", birth_year: int = 1961) -> Person:
    return Person(full_name=full_name, birth_year=birth_year)  # unsaved: no database needed


def decode_image(image: Image.Image) -> list[zxingcpp.Barcode]:
    return [b for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]


# --- Format ---------------------------------------------------------------------------


def test_payload_format_and_round_trip() -> None:
    payload = qr.build_payload(TOKEN, "Nguyễn Thị Bích Ngọc", 1961)
    assert payload == f"SW1:{TOKEN}:NTBN1961:{qr.check_char('SW1' + TOKEN + 'NTBN1961')}"
    assert len(payload) == 41
    assert qr.decode_payload(payload) == qr.PersonQR(TOKEN, "NTBN", 1961)
    assert qr.decode_payload(payload).hint == "NTBN 1961"  # type: ignore[union-attr]


def test_encode_from_person_uses_its_token() -> None:
    someone = person()
    decoded = qr.decode_payload(qr.encode_payload(someone))
    assert decoded == qr.PersonQR(someone.qr_token, "NTBN", 1961)


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("Nguyễn Thị Bích Ngọc", "NTBN"),
        ("Đỗ Văn Đức", "DVD"),  # đ folds to d
        ("Lý A", "LA"),
        ("Tôn Nữ Thị Minh Khai", "TTMK"),  # family name + the last three: the given name shows
        ("Ngô Bảo Châu", "NBC"),
        ("  ÉLODIE   ṭran ", "ET"),
        ("李小龙", ""),  # no Latin letter: the year alone
        ("", ""),
    ],
)
def test_initials(name: str, initials: str) -> None:
    assert qr.initials_for(name) == initials


def test_check_character_is_iso_7064_mod_37_2() -> None:
    # Pinned, so cards already printed stay valid; separators are not covered.
    assert qr.check_char(f"SW1{TOKEN}NTBN1961") == "3"
    assert qr.check_char(f"SW1:{TOKEN}:NTBN1961") == "3"
    assert qr.build_payload(TOKEN, "Nguyễn Thị Bích Ngọc", 1961) == f"SW1:{TOKEN}:NTBN1961:3"
    # Every single substitution and every swap of neighbours changes the check.
    body = f"SW1{TOKEN}NTBN1961"
    check = qr.check_char(body)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(len(body)):
        for ch in alphabet:
            if ch != body[i]:
                assert qr.check_char(body[:i] + ch + body[i + 1 :]) != check
        if i + 1 < len(body) and body[i] != body[i + 1]:
            assert qr.check_char(body[:i] + body[i + 1] + body[i] + body[i + 2 :]) != check


def test_qr_version_at_most_4_at_m() -> None:
    longest = qr.build_payload(TOKEN, "Tôn Nữ Thị Minh Khai", 2100)
    symbol = segno.make_qr(longest, error="m")
    assert symbol.version == 3  # <= 4, as DESIGN §5 asks
    assert symbol.mode == "alphanumeric"
    assert not symbol.is_micro
    made = qr.make_symbol(longest)
    assert made.version == 3 and made.error in {"M", "Q"} and not made.is_micro


def test_bad_inputs_to_build_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="token"):
        qr.build_payload("too-short", "A", 1961)
    with pytest.raises(ValueError, match="year"):
        qr.build_payload(TOKEN, "A", 1700)


# --- Decoding what scanners give us ---------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        lambda p: p,
        lambda p: f"  {p}\r\n",
        lambda p: p.lower(),
        lambda p: "\ufeff" + p + "\n",
        lambda p: "\t" + p.lower() + "   ",
    ],
)
def test_decode_tolerates_whitespace_and_case(wrap: object) -> None:
    payload = qr.build_payload(TOKEN, "Lê Văn Tám", 1950)
    assert qr.decode_payload(wrap(payload)) == qr.PersonQR(TOKEN, "LVT", 1950)  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "K7M2-P9QX",  # a typed human code
        "079061012345||Nguyễn Văn A|15081961|Nam||",  # a CCCD QR
        "https://example.org/x",
        "HC1:6BFOXN%TS3DH0YOJ58S",  # a certificate
        "S",
        "SWAB",
    ],
)
def test_not_ours_is_none(text: str) -> None:
    assert qr.decode_payload(text) is None
    assert not qr.is_person_qr(text)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (f"SW1:{TOKEN}:NTBN1961:0", "check"),
        (f"SW1:{TOKEN}:NTBN1962:K", "check"),
        (f"SW1:{TOKEN[:-1]}:NTBN1961:K", "format"),
        (f"SW1:{TOKEN}:NTBNA1961:K", "format"),  # five initials
        (f"SW1:{TOKEN}:NTBN61:K", "format"),
        (f"SW1:{TOKEN}:NTBN1961", "format"),  # check character cut off
        (f"SW1:{TOKEN}:NTBN1961:KK", "format"),
        (f"SW1:{TOKEN.replace('A', '1')}:NTBN1961:K", "format"),  # 1 is not base32
        (f"SW1 {TOKEN} NTBN1961 K", "format"),
        ("SW1", "format"),
        (f"SW2:{TOKEN}:NTBN1961:K", "version"),
        (f"SW10:{TOKEN}", "version"),
        (f"SƯ1:{TOKEN}:NTBN1961:K", "keyboard"),  # Telex typed W as Ư
        ("SW1:G4Q7ZK2M5XƯUÂJ3C6NVPEYRHLA:NTBN1961:K", "keyboard"),
    ],
)
def test_malformed_or_altered_is_refused(text: str, code: str) -> None:
    with pytest.raises(qr.QrError) as caught:
        qr.decode_payload(text)
    assert caught.value.code == code
    assert caught.value.messages[0]  # a sentence for the person at the station


def test_error_messages_are_translatable() -> None:
    from django.utils.functional import Promise

    with pytest.raises(qr.QrError) as caught:
        qr.decode_payload(f"SW1:{TOKEN}:NTBN1961:0")
    assert isinstance(caught.value.message, Promise)


# --- Properties -----------------------------------------------------------------------


@given(token=tokens, name=names, year=years)
@settings(max_examples=150, deadline=None)
def test_round_trip_property(token: str, name: str, year: int) -> None:
    payload = qr.build_payload(token, name, year)
    assert ALPHANUMERIC.match(payload)
    assert len(payload) <= 41
    decoded = qr.decode_payload(payload)
    assert decoded == qr.PersonQR(token, qr.initials_for(name), year)
    assert decoded is not None and len(decoded.initials) <= 4


@given(token=tokens, name=names, year=years)
@settings(max_examples=40, deadline=None)
def test_every_payload_fits_version_4_at_m(token: str, name: str, year: int) -> None:
    version = segno.make_qr(qr.build_payload(token, name, year), error="m").version
    assert isinstance(version, int) and version <= 4  # (Micro QR versions are "M1".."M4")


def assert_refused(altered: str) -> None:
    """Never read as a person: refused as ours-but-broken, or (prefix hit) not ours."""
    try:
        result = qr.decode_payload(altered)
    except qr.QrError:
        return
    assert result is None, altered
    assert not altered.startswith("SW1:")


@given(
    token=tokens,
    year=years,
    position=st.integers(min_value=0, max_value=40),
    replacement=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567890"),
)
@settings(max_examples=300, deadline=None)
def test_any_single_substitution_is_caught(
    token: str, year: int, position: int, replacement: str
) -> None:
    payload = qr.build_payload(token, "Nguyễn Thị Bích Ngọc", year)
    position %= len(payload)
    if payload[position] in ":" or payload[position] == replacement:
        return
    assert_refused(payload[:position] + replacement + payload[position + 1 :])


@given(token=tokens, year=years, position=st.integers(min_value=0, max_value=39))
@settings(max_examples=300, deadline=None)
def test_any_swap_of_neighbours_is_caught(token: str, year: int, position: int) -> None:
    payload = qr.build_payload(token, "Trần Văn Hùng", year)
    position %= len(payload) - 1
    a, b = payload[position], payload[position + 1]
    if a == b:
        return
    assert_refused(payload[:position] + b + a + payload[position + 2 :])


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        result = qr.decode_payload(text)
    except qr.QrError:
        return
    assert result is None or ALPHANUMERIC.match(result.token)


@given(st.text(alphabet="SW1:AEIMQUY4ZK27NTB96 \n", max_size=50))
@settings(max_examples=300)
def test_near_misses_never_decode_silently(text: str) -> None:
    try:
        result = qr.decode_payload("SW1:" + text)
    except qr.QrError:
        return
    assert result is not None and qr.decode_payload(qr.build_payload(result.token, "", 1961))


# --- Real symbols ---------------------------------------------------------------------

# 2.5 cm at 300 dpi is 295 px; a version 3 symbol and its quiet zone are 37 modules.
PRINTED_SCALE = 8


def test_png_decodes_at_printed_size() -> None:
    payload = qr.encode_payload(person("Hoàng Thị Ánh Tuyết", 1987))
    png = qr.qr_png(payload, scale=PRINTED_SCALE)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert abs(image.width / 300 * 2.54 - 2.5) < 0.05  # cm at 300 dpi
    found = decode_image(image)
    assert [b.text for b in found] == [payload]
    assert dict(found[0].extra)["Version"] == "3"  # type: ignore[call-overload]
    assert found[0].ec_level in {"M", "Q"}
    assert found[0].symbology_identifier == "]Q1"  # model 2 QR, not Micro QR


def test_png_decodes_after_print_like_blur_and_rotation() -> None:
    payload = qr.encode_payload(person("Phạm Đức Long", 2003))
    image = Image.open(io.BytesIO(qr.qr_png(payload, scale=4))).convert("L")
    image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR)
    image = image.rotate(7, expand=True, fillcolor=255)
    assert [b.text for b in decode_image(image)] == [payload]


def svg_matrix(svg: str, scale: int) -> list[list[int]]:
    """The modules drawn by segno's single SVG path ("M x y h n m dx dy h n ...")."""
    size = int(re.search(r'width="(\d+)"', svg)[1]) // scale  # type: ignore[index]
    path = re.search(r' d="([^"]+)"', svg)[1]  # type: ignore[index]
    grid = [[0] * size for _ in range(size)]
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([^MmHh]*)", path):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif op == "h":
            row = int(y)  # lines are drawn through the middle of a module row
            for column in range(int(x), int(x + numbers[0])):
                grid[row][column] = 1
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path operator {op}")
    return grid


def test_svg_has_the_same_modules_and_decodes() -> None:
    payload = qr.encode_payload(person("Vũ Thị Thu Hà", 1975))
    scale = 6
    svg = qr.qr_svg(payload, scale=scale)
    assert svg.startswith("<svg") and "<?xml" not in svg
    grid = svg_matrix(svg, scale)
    symbol = qr.make_symbol(payload)
    border = qr.QUIET_ZONE
    expected = [[int(bool(v)) for v in row] for row in symbol.matrix_iter(scale=1, border=border)]
    assert grid == expected
    # Quiet zone: the four outer module rings are empty.
    assert all(not any(row) for row in grid[:border] + grid[-border:])
    assert all(not any(row[:border] + row[-border:]) for row in grid)

    image = Image.new("L", (len(grid) * 8, len(grid) * 8), 255)
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(grid):
        for c, dark in enumerate(row):
            if dark:
                draw.rectangle((c * 8, r * 8, c * 8 + 7, r * 8 + 7), fill=0)
    assert [b.text for b in decode_image(image)] == [payload]


def test_many_real_tokens_decode_from_png() -> None:
    payloads = [
        qr.build_payload(new_qr_token(), name, year)
        for name, year in [("Nguyễn Văn A", 1961), ("Bùi Thị Xuân", 2020), ("Y", 1890)]
    ]
    for payload in payloads:
        image = Image.open(io.BytesIO(qr.qr_png(payload, scale=3)))
        assert [b.text for b in decode_image(image)] == [payload]


def test_human_code_alphabet_cannot_be_taken_for_a_qr() -> None:
    for _ in range(50):
        assert qr.decode_payload(new_person_code()) is None
