"""`open311 workorder add`: a work order outside the request's workflow from the command line
(issue 13), on test_cli_commands' small town in a database of its own."""

# ruff: noqa: F811
from __future__ import annotations

from tests.db.test_cli_commands import activity_kinds, open311, query, town  # noqa: F401


def test_workorder_add_gives_the_crew_a_work_order_and_logs_it(town):
    added = open311(
        town.url,
        "workorder",
        "add",
        town.refused_id,
        "--crew",
        "LASAN/EAST",
        "--title",
        "Photograph the items",
        "--due",
        "2099-01-05T17:00:00Z",
        "--note",
        "For the claim",
        "--priority",
        "3",
    )
    assert added.exit_code == 0, added.output
    assert (
        added.output.startswith("work order ") and "Photograph the items [assigned]" in added.output
    )
    assert "due 2099-01-05T17:00:00Z" in added.output
    rows = query(
        town.url,
        "SELECT w.crew_id, w.state, w.priority, w.step_id FROM work_order w "
        "JOIN service_request r ON r.id = w.service_request_pk "
        "WHERE r.service_request_id = %s AND w.title = 'Photograph the items'",
        town.refused_id,
    )
    assert rows == [(town.east_id, "assigned", 3, None)]
    kind, actor = activity_kinds(town, town.refused_id)[-1]
    assert kind == "work_order_created" and actor.startswith("staff:")


def test_workorder_add_refusals(town):
    before = query(town.url, "SELECT count(*) FROM work_order")
    for args, message in [
        (("NO-SUCH", "--crew", "LASAN/EAST", "--title", "x"), "request NO-SUCH not found"),
        ((town.refused_id, "--crew", "LASAN/NOPE", "--title", "x"), "no crew LASAN/NOPE"),
        ((town.refused_id, "--crew", "LASAN/EAST", "--title", "x", "--due", "soon"), "--due"),
        (
            (
                town.refused_id,
                "--crew",
                "LASAN/EAST",
                "--title",
                "x",
                "--due",
                "2001-01-01T00:00:00Z",
            ),
            "later than now",
        ),
    ]:
        result = open311(town.url, "workorder", "add", *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, result.output
    assert query(town.url, "SELECT count(*) FROM work_order") == before
