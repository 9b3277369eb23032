import pytest

from portal.access_log import redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET /callback?iss=abc-halopsa-def&code=SECRETCODE&state=SECRETSTATE HTTP/1.1",
            "GET /callback?iss=abc-halopsa-def&code=…&state=… HTTP/1.1",
        ),
        ("GET /accounts/verify/Zm9vYmFyYmF6/ HTTP/1.1", "GET /accounts/verify/…/ HTTP/1.1"),
        ("/sso/x/login/?next=/invoices/", "/sso/x/login/?next=/invoices/"),
        ("code=abc&state=def", "code=…&state=…"),
        ("-", "-"),
    ],
)
def test_secrets_are_redacted_from_access_lines(line, expected):
    assert redact(line) == expected


def test_structured_log_lines_redact_tokens_in_paths():
    import logging

    from portal.logging import JsonFormatter

    record = logging.makeLogRecord(
        {"msg": "Gone: %s", "args": ("/accounts/verify/TOKEN123/",), "levelname": "WARNING", "name": "x"}
    )
    record.request = "<WSGIRequest: GET '/callback?iss=k&code=CODE456&state=STATE789'>"

    line = JsonFormatter().format(record)

    assert "TOKEN123" not in line
    assert "CODE456" not in line
    assert "STATE789" not in line
    assert "/accounts/verify/" in line
