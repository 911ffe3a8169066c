"""A token under a query parameter name longer than the 64 characters the redaction looks back
for a name (``?<70 characters>=<an inspector's token>``) is redacted by its shape, as under any
other name: it reached the access log in clear."""

from __future__ import annotations

import pytest

from shuangsui.logsafe import redact

TOKEN = "1821f52b3927b442d8b735e30b5079736a58895c7d241f4037aae44584e04307"


@pytest.mark.parametrize("length", [63, 64, 65, 70, 500])
@pytest.mark.parametrize("value", [TOKEN, "ssc_z_6HgeL43tmcdmLlqzI91Wa8j8ZqCSvdd68scqZcW9Q"])
def test_a_token_under_a_name_of_any_length_is_redacted(length: int, value: str) -> None:
    line = f'127.0.0.1:5 - "GET /w/open/r/c?a=1&{"x" * length}={value} HTTP/1.1" 401'
    assert value not in redact(line)
    assert redact(line).endswith('=[redacted] HTTP/1.1" 401')


def test_a_long_name_s_other_values_are_kept() -> None:
    line = f"GET /w/c/?{'x' * 70}=2026-12&period=2026-12 HTTP/1.1"
    assert redact(line) == line
