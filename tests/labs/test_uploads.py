"""Bulk result uploads: mapping, encodings, the per-row report, re-upload, atomicity."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import translation
from openpyxl import Workbook

from swabline.labs import services, uploads
from swabline.labs.enums import ResultState, UploadStatus
from swabline.labs.models import ColumnMapping, TubeResult
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from tests.labs.helpers import closed_tube, received_tubes, ship

pytestmark = pytest.mark.django_db

HEADER = ["Well", "Sample Name", "Ct E", "Ct N", "Result", "Run"]


def csv_bytes(rows, *, header=HEADER, encoding="utf-8", delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(str(c) for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows, *, header=HEADER):
    book = Workbook()
    sheet = book.active
    sheet.append(["Run file exported 29/11/2026"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(world, data, name="run.csv", user="labtech_a"):
    up = uploads.create_upload(by=world.users[user], lab=world.lab_a, file=data, file_name=name)
    prepared = uploads.prepare(up)
    return up, prepared


def check(world, data, name="run.csv"):
    up, prepared = upload(world, data, name)
    uploads.validate_upload(by=world.users["labtech_a"], upload=up, mapping=prepared.mapping)
    return up, prepared


def apply(world, up, mapping, **kwargs):
    return uploads.apply_upload(by=world.users["labtech_a"], upload=up, mapping=mapping, **kwargs)


def test_mapping_is_guessed_from_headers():
    mapping = uploads.guess_mapping(
        ["Well", "Sample Name", "CT_E", "N Ct", "Cq RdRp", "Kết quả", "Run ID"]
    )
    assert mapping.columns == {
        "well": "Well", "tube_code": "Sample Name", "result": "Kết quả", "run_id": "Run ID",
        "ct": {"E": "CT_E", "N": "N", "RdRp": "RdRp"} | {"N": "N Ct", "RdRp": "Cq RdRp"},
    }  # fmt: skip
    words = mapping.words()
    assert words["not detected"] == "negative" and words["duong tinh"] == "positive"


def test_a_file_checks_then_applies_atomically(world):
    a, b, c = received_tubes(world, 3)
    data = csv_bytes([
        ["A1", a.code, "", "", "Not detected", "R1"],
        ["A2", b.code, "24.5", "26.1", "POS", "R1"],
        ["A3", c.code, "", "", "Invalid", "R1"],
    ])  # fmt: skip
    up, prepared = check(world, data)
    assert prepared.saved is False
    assert (up.rows, up.created, up.unchanged, up.errors, up.contradictions) == (3, 3, 0, 0, 0)
    assert not TubeResult.objects.exists()
    apply(world, up, prepared.mapping)
    up.refresh_from_db()
    assert (up.status, up.created) == (UploadStatus.APPLIED, 3)
    results = {r.tube.code: r for r in TubeResult.objects.select_related("tube")}
    assert results[b.code].value == "positive"
    assert results[b.code].ct_values == {"E": 24.5, "N": 26.1}
    assert (results[a.code].well, results[a.code].run_id, results[a.code].source) == (
        "A1",
        "R1",
        "upload",
    )
    assert results[c.code].state == ResultState.ENTERED
    assert set(Tube.objects.values_list("status", flat=True)) == {TubeStatus.RESULTED}


def test_uploading_the_same_file_again_changes_nothing(world):
    tubes = received_tubes(world, 2)
    data = csv_bytes([["A1", t.code, "", "", "Negative", "R1"] for t in tubes])
    up, prepared = check(world, data)
    apply(world, up, prepared.mapping)
    again, prepared = check(world, data)
    assert (again.created, again.unchanged, again.errors) == (0, 2, 0)
    assert uploads.same_file_applied(again) == up
    apply(world, again, prepared.mapping)
    assert TubeResult.objects.count() == 2


def test_a_contradiction_is_flagged_and_never_applied(world):
    a, b = received_tubes(world, 2)
    services.record_result(
        by=world.users["labtech_a"], lab=world.lab_a, tube_code=a.code, value="negative"
    )
    data = csv_bytes(
        [["A1", a.code, "22", "", "Positive", "R"], ["A2", b.code, "", "", "Negative", "R"]]
    )
    up, prepared = check(world, data)
    assert (up.created, up.contradictions) == (1, 1)
    assert up.report[0]["row"] == 2 and up.report[0]["code"] == "contradiction"
    with pytest.raises(uploads.UploadRefused) as exc:
        apply(world, up, prepared.mapping)
    assert exc.value.code == "has_errors"
    assert TubeResult.objects.count() == 1  # nothing applied
    apply(world, up, prepared.mapping, leave_out_errors=True)
    assert TubeResult.objects.get(tube=a, current=True).value == "negative"
    assert TubeResult.objects.get(tube=b).value == "negative"


def test_per_row_report(world):
    (ok,) = received_tubes(world)
    elsewhere = closed_tube(world)
    ship(world, [elsewhere], lab=world.lab_b)
    in_transit = closed_tube(world)
    ship(world, [in_transit], received=False)
    dup = received_tubes(world)[0]
    data = csv_bytes([
        ["A1", ok.code, "", "", "Negative", ""],
        ["A2", "123456789012", "", "", "Negative", ""],
        ["A3", elsewhere.code, "", "", "Negative", ""],
        ["A4", in_transit.code, "", "", "Negative", ""],
        ["A5", ok.code, "", "", "Negative", ""],
        ["A6", dup.code, "", "", "Negative", ""],
        ["A7", dup.code, "", "", "Positive", ""],
        ["A8", "", "", "", "Negative", ""],
        ["A9", ok.code, "abc", "", "Maybe", ""],
    ])  # fmt: skip
    with translation.override("en"):  # the report keeps messages in the uploader's language
        up, _ = check(world, data)
    assert [(e["row"], e["field"], e["code"]) for e in up.report] == [
        (3, "tube_code", "unknown_tube"),
        (4, "tube_code", "not_at_lab"),
        (5, "tube_code", "not_received"),
        (7, "result", "duplicate_conflict"),
        (8, "result", "duplicate_conflict"),
        (9, "tube_code", "no_tube"),
        (10, "ct:E", "bad_ct"),
        (10, "result", "unknown_word"),
    ]
    assert (
        up.report[-1]["message"]
        == "“Maybe” is not one of the words mapped to negative, positive or invalid."
    )
    assert (up.rows, up.created, up.unchanged, up.errors) == (9, 1, 1, 7)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1258", "cp1252"])
def test_encodings(world, encoding):
    (tube,) = received_tubes(world)
    word = "Âm tính" if encoding != "cp1252" else "Négatif"
    data = csv_bytes([["A1", tube.code, "", "", word, "R"]], encoding=encoding, delimiter=";")
    up, prepared = upload(world, data)
    if encoding == "cp1252":
        prepared.mapping.values["negative"].append("Négatif")
    uploads.validate_upload(by=world.users["labtech_a"], upload=up, mapping=prepared.mapping)
    assert (up.created, up.errors) == (1, 0), up.report


def test_undecodable_file_is_refused_clearly(world):
    up = uploads.create_upload(
        by=world.users["labtech_a"],
        lab=world.lab_a,
        file=b"\x81\x8d\x8f\x90\x9d,\xff\xfe\x00",
        file_name="x.csv",
    )
    with pytest.raises(uploads.UploadRefused) as exc:
        uploads.prepare(up)
    assert exc.value.code == "encoding"


def test_xlsx_numbers_come_back_as_codes(world):
    (tube,) = received_tubes(world)
    data = xlsx_bytes([["A1", int(tube.code), 23.4, None, "Positive", "R9"]])
    up, prepared = check(world, data, "run.xlsx")
    assert (up.created, up.errors) == (1, 0), up.report
    apply(world, up, prepared.mapping)
    assert TubeResult.objects.get().ct_values == {"E": 23.4, "N": None}


def test_the_mapping_is_saved_and_used_next_time(world):
    (tube,) = received_tubes(world)
    header = ["Pos", "Code", "Interp", "FAM Ct"]
    data = csv_bytes([["A1", tube.code, "NEG!", "30"]], header=header)
    up = uploads.create_upload(
        by=world.users["labtech_a"], lab=world.lab_a, file=data, file_name="r.csv"
    )
    with pytest.raises(uploads.UploadRefused):
        uploads.prepare(up)  # nothing names the tube column
    mapping = uploads.Mapping(
        {"tube_code": "Code", "result": "Interp", "well": "Pos", "ct": {"FAM": "FAM Ct"}},
        {"negative": ["NEG!"], "positive": ["POS!"], "invalid": ["INV!"]},
    )
    uploads.save_mapping(by=world.users["labtech_a"], lab=world.lab_a, mapping=mapping)
    prepared = uploads.prepare(up)
    assert prepared.saved is True and prepared.mapping.columns == mapping.columns
    uploads.validate_upload(by=world.users["labtech_a"], upload=up, mapping=prepared.mapping)
    assert (up.created, up.errors) == (1, 0)
    assert ColumnMapping.objects.get().lab == world.lab_a


def test_only_the_labs_technicians_upload(world):
    with pytest.raises(PermissionDenied):
        uploads.create_upload(
            by=world.users["labtech_b"], lab=world.lab_a, file=b"x", file_name="x.csv"
        )
    up, prepared = upload(world, csv_bytes([]))
    with pytest.raises(PermissionDenied):
        uploads.apply_upload(by=world.users["labtech_b"], upload=up, mapping=prepared.mapping)
