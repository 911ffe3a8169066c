"""A JSON body sent as another media type (``Content-Type: text/plain``, a form's) is refused
with 415 naming ``Content-Type``, nothing recorded. Before, the framework validated its bytes
and answered 422 ``fix these fields and send again: body: Input should be a valid dictionary
or object to extract fields from``: a field error for a body whose every field was right.

On the app served on loopback (``tests/api/conftest.py``), SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx

from api.openapi import problem_statuses
from tests.api.desk import Served, bearer
from tests.findings.factories import ROUND

FINDING = {"result": "no_problem", "check_date": "2026-12-10"}


def _refused(r: httpx.Response, media: str) -> None:
    assert r.status_code == 415, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:shuangsui:problem:unsupported-media-type", problem
    assert problem["detail"] == (
        f"Content-Type: {media} is not JSON: send the body as application/json"
    )
    assert problem["errors"][0]["field"] == "header.content-type"


def test_a_json_body_sent_as_text_or_a_form_is_refused_naming_its_content_type(
    served: Served,
) -> None:
    code = sorted(served.teams)[0]
    url = f"{served.base}/findings/{ROUND}/{code}"
    auth = bearer(served.coordinator)
    body = json.dumps(FINDING)
    with httpx.Client(timeout=30) as http:
        for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            sent = {**auth, "Content-Type": f"{media}; charset=utf-8"}
            _refused(http.post(url, content=body, headers=sent), media)
        # a body out of its schema, as another type, is still said as its type
        _refused(
            http.post(url, content="{}", headers={**auth, "Content-Type": "text/plain"}),
            "text/plain",
        )
        # a coordinator's route as well
        due = f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates"
        sent = {**auth, "Content-Type": "text/plain"}
        _refused(http.post(due, content='{"due_on": "2027-01-05"}', headers=sent), "text/plain")
        assert http.get(url, headers=auth).json()["versions"] == []  # nothing recorded
        # JSON, and a +json type, as before
        fields = http.post(url, content="{}", headers={**auth, "Content-Type": "application/json"})
        assert fields.status_code == 422 and "body.result" in fields.text, fields.text
        sent = {**auth, "Content-Type": "application/problem+json"}
        assert http.post(url, content="{}", headers=sent).status_code == 422


def test_a_json_body_sent_with_no_content_type_is_refused_saying_so(served: Served) -> None:
    """A program that sets no type (``requests.post(url, data=json.dumps(...))``) was answered
    the field error above; the framework does not read such a body as JSON (a page of another
    site can send one), so it is refused as the others are, saying no type came."""
    code = sorted(served.teams)[0]
    url = f"{served.base}/findings/{ROUND}/{code}"
    auth = bearer(served.coordinator)
    with httpx.Client(timeout=30) as http:
        r = http.post(url, content=json.dumps(FINDING), headers=auth)
        assert "content-type" not in r.request.headers
        assert r.status_code == 415, (r.status_code, r.text)
        problem = r.json()
        assert problem["type"] == "urn:shuangsui:problem:unsupported-media-type", problem
        assert problem["detail"] == ("no Content-Type was sent: send the body as application/json")
        assert problem["errors"][0]["field"] == "header.content-type"
        assert http.get(url, headers=auth).json()["versions"] == []  # nothing recorded
        empty = http.post(url, headers=auth)  # no body at all: said as that
        assert empty.status_code == 422 and empty.json()["errors"] == [
            {"field": "body", "reason": "Field required"}
        ], empty.text


def test_the_openapi_document_says_415_where_a_route_takes_json() -> None:
    takes_json = {"requestBody": {"content": {"application/json": {}}}}
    assert 415 in problem_statuses("post", ["coordinator"], takes_json)
    raw = {"requestBody": {"content": {"application/octet-stream": {}}}}
    assert 415 not in problem_statuses("post", ["inspector"], raw)
    assert 415 not in problem_statuses("get", ["coordinator"], {"parameters": [{}]})
