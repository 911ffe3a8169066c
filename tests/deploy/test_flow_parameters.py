"""The Prefect UI's run form describes every parameter of every deployed flow, in Chinese and
English: the schema Prefect builds from the flow's signature and docstring (``Args:``)."""

from __future__ import annotations

import re

import pytest
import yaml
from prefect.utilities.callables import parameter_schema_from_entrypoint

from tests.deploy.procs import REPO_ROOT

ENTRYPOINTS = [
    d["entrypoint"]
    for d in yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
]


@pytest.mark.parametrize("entrypoint", ENTRYPOINTS)
def test_every_parameter_is_described_in_chinese_and_english(entrypoint: str) -> None:
    # the same function `prefect deploy` uses to build parameter_openapi_schema
    schema = parameter_schema_from_entrypoint(entrypoint.replace(":", ".")).model_dump_for_openapi()
    properties = schema["properties"]
    assert properties, entrypoint
    for name, prop in properties.items():
        description = prop.get("description", "")
        assert re.search(r"[\u4e00-\u9fff]", description), f"{entrypoint} {name}: no Chinese"
        assert re.search(r"[A-Za-z]{3,} [a-z]+", description), f"{entrypoint} {name}: no English"
