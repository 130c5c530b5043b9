"""`open311 openapi [--output FILE]` writes the document /openapi.json serves, with no server."""

from __future__ import annotations

import json

from click.testing import CliRunner

from open311 import create_app
from open311.cli import main


def test_the_command_writes_what_openapi_json_serves(tmp_path):
    target = tmp_path / "openapi.json"
    result = CliRunner().invoke(main, ["openapi", "--output", str(target)])
    assert result.exit_code == 0, result.output

    written = json.loads(target.read_text(encoding="utf-8"))
    served = create_app().test_client().get("/openapi.json").get_json()
    assert written == served
    assert "/open311/v2/requests.{fmt}" in written["paths"]


def test_without_output_it_prints_the_document():
    result = CliRunner().invoke(main, ["openapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["openapi"].startswith("3.")
