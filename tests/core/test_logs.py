import json
import logging

from swabline.core.logs import JsonFormatter


def test_json_log_keeps_only_safe_fields():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "request", None, None)
    record.path = "people/<str:public_id>/"
    record.status = 200
    record.full_name = "Nguyễn Văn A"
    record.phone = "+84912345678"
    line = json.loads(JsonFormatter().format(record))
    assert line["path"] == "people/<str:public_id>/"
    assert line["status"] == 200
    assert "full_name" not in line
    assert "phone" not in line
