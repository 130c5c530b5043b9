"""`open311 contacts import FILE` on a database of its own: call-detail records in, the same
file again changing nothing, a corrected call updated, a malformed file refused whole with
every problem listed by line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, select

from open311.cli import main
from open311.db.models import AuditEntry, Contact, contact_request
from open311.db.session import make_engine, make_session_factory
from open311.domain import contact_import, staff
from tests.factories import make_jurisdiction, make_request, make_service
from tests.helpers import scratch_database

HEADER = (
    "call_id,channel,queued_at,answered_at,ended_at,hold_seconds,abandoned,agent,language,"
    "interpreter,outcome,transfer_agency,caller_number,service_request_ids"
)


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            austin = make_jurisdiction(
                session,
                jurisdiction_id="austintexas.gov",
                name="Austin",
                time_zone="America/Chicago",
                is_default=True,
            )
            service = make_service(session, austin, "BULKY-ITEM")
            make_request(session, service, service_request_id="ATX-1")
            make_request(session, service, service_request_id="ATX-2")
            other = make_jurisdiction(session, jurisdiction_id="other.example", name="Other")
            make_request(session, make_service(session, other, "X"), service_request_id="OTH-1")
            staff.create_user(
                session,
                "maria",
                password="a long enough password",
                role="call_taker",
                jurisdictions=[austin],
            )
            staff.create_user(
                session,
                "olaf",
                password="a long enough password",
                role="call_taker",
                jurisdictions=[other],
            )
            session.commit()
        engine.dispose()
        yield scratch


@pytest.fixture
def db(url):
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        yield session
        session.execute(delete(contact_request))
        session.execute(delete(Contact))
        session.commit()
    engine.dispose()


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url})


def _when(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "cdr.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def _good(tmp_path: Path) -> str:
    return _file(
        tmp_path,
        f"A-1,phone,{_when(5)},{_when(4.99)},{_when(4.9)},30,false,maria,es_MX,yes,request,,"
        "+1 512 555 0142,ATX-1 ATX-2",
        f"A-2,phone,{_when(4)},,{_when(3.99)},0,true,,,,,,5125550143,",
        f"A-3,tty,{_when(3)},{_when(2.99)},,,0,MARIA,,0,transfer,Travis County,,",
        # Without a zone: the city's local time; a space for the T, as switches write.
        "A-4,walk_in,2026-01-15 09:30:00,2026-01-15 09:31:00,2026-01-15 09:40:00,,,,,,"
        "information,,,",
    )


def _count(db, model=Contact) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_import_then_again(url, db, tmp_path):
    path = _good(tmp_path)
    first = cli(url, "contacts", "import", path)
    assert first.exit_code == 0, first.output
    assert first.output.startswith(
        "imported into austintexas.gov: 4 rows, 4 new, 0 updated, 0 unchanged"
    )
    calls = {row.external_id: row for row in db.scalars(select(Contact))}
    one = calls["A-1"]
    assert one.channel == "phone" and one.language == "es-MX" and one.interpreter
    assert one.hold_seconds == 30 and str(one.outcome) == "request"
    assert one.caller_number == "+1 512 555 0142"
    assert sorted(request.service_request_id for request in one.requests) == ["ATX-1", "ATX-2"]
    assert one.staff_user_id is not None
    assert calls["A-2"].abandoned and calls["A-2"].answered_at is None
    assert calls["A-3"].transfer_agency == "Travis County"
    assert calls["A-3"].staff_user_id == one.staff_user_id  # agents in any case
    # 09:30 in Austin in January is 15:30 UTC.
    assert calls["A-4"].queued_at == datetime(2026, 1, 15, 15, 30, tzinfo=UTC)
    assert _count(db, contact_request) == 2

    again = cli(url, "contacts", "import", path)
    assert again.exit_code == 0, again.output
    assert "4 rows, 0 new, 0 updated, 4 unchanged" in again.output
    assert _count(db) == 4 and _count(db, contact_request) == 2
    assert _count(db, AuditEntry) >= 2


def test_a_corrected_call_is_updated(url, db, tmp_path):
    cli(url, "contacts", "import", _good(tmp_path))
    corrected = _file(
        tmp_path,
        f"A-2,phone,{_when(4)},,{_when(3.9)},12,true,,,,,,5125550143,",
        f"A-9,chat,{_when(1)},{_when(0.9)},,,,,,,feedback,,,ATX-2",
        name="again.csv",
    )
    result = cli(url, "contacts", "import", corrected)
    assert result.exit_code == 0, result.output
    assert "2 rows, 1 new, 1 updated, 0 unchanged" in result.output
    db.expire_all()
    assert db.scalar(select(Contact).where(Contact.external_id == "A-2")).hold_seconds == 12
    assert _count(db) == 5


def test_into_another_city(url, db, tmp_path):
    path = _file(tmp_path, f"A-1,phone,{_when(2)},,,,,olaf,,,,,,OTH-1")
    result = cli(url, "contacts", "import", path, "--jurisdiction", "other.example")
    assert result.exit_code == 0, result.output
    # Maria does not work for the other city, and its requests are not Austin's.
    refused = cli(url, "contacts", "import", path)
    assert refused.exit_code == 1
    assert "line 2: agent: no staff user 'olaf' works for this city" in refused.output
    assert "OTH-1" not in refused.output  # the first problem of a row is the one named


def test_a_malformed_file_is_refused_whole(url, db, tmp_path, monkeypatch):
    # Batches of two: the good rows before the bad ones were written, and rolled back.
    monkeypatch.setattr(contact_import, "BATCH", 2)
    path = _file(
        tmp_path,
        f"B-1,phone,{_when(5)},,,,,,,,,,,",
        f"B-2,phone,{_when(5)},,,,,,,,,,,",
        f"B-3,phone,{_when(5)},,,,,,,,,,,",
        f"B-4,fax,{_when(5)},,,,,,,,,,,",
        "B-5,phone,yesterday,,,,,,,,,,,",
        f"B-6,phone,{_when(5)},{_when(6)},,,,,,,,,,",
        f"B-7,phone,{_when(5)},{_when(4)},,,true,,,,,,,",
        f"B-8,phone,{_when(5)},,,-3,,,,,,,,",
        f"B-9,phone,{_when(5)},,,,,,,,transfer,,,",
        f"B-1,phone,{_when(5)},,,,,,,,,,,",
        f"B-10,phone,{_when(5)},,,,,nobody,,,,,,",
        f"B-11,phone,{_when(5)},,,,,,klingon-xx-yy,,,,,",
        f"B-12,phone,{_when(5)},,,,,,,,,,,NOPE-1",
        f"B-13,phone,{(datetime.now(UTC) + timedelta(hours=2)).isoformat()},,,,,,,,,,,",
        f"B-14,phone,{_when(5)},,,,maybe,,,,,,,",
        f"B-15,phone,{_when(5)},,,,,,,,,,call me,",
        f"B-16,phone,{_when(5)},,,,,,,,,,,,extra",
        f",phone,{_when(5)},,,,,,,,,,,",
    )
    result = cli(url, "contacts", "import", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].endswith("nothing imported:")
    expected = [
        "line 5: channel:",
        "line 6: queued_at:",
        "line 7: answered_at: before queued_at",
        "line 8: abandoned:",
        "line 9: hold_seconds:",
        "line 10: transfer_agency: required",
        "line 11: call_id: B-1 repeated in the file",
        "line 12: agent:",
        "line 13: language:",
        "line 14: service_request_ids: no request NOPE-1",
        "line 15: queued_at: in the future",
        "line 16: abandoned:",
        "line 17: caller_number:",
        "line 18: more cells than columns",
        "line 19: call_id: required",
    ]
    problems = [line.strip() for line in lines[1:]]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    assert _count(db) == 0


def test_many_problems_are_counted(url, db, tmp_path):
    rows = [f"C-{i},fax,{_when(1)},,,,,,,,,,," for i in range(150)]
    result = cli(url, "contacts", "import", _file(tmp_path, *rows))
    assert result.exit_code == 1
    assert "line 101: channel" in result.output and "line 102:" not in result.output
    assert "... and 50 more problems" in result.output
    assert _count(db) == 0


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("call_id,channel", "line 1: missing columns: queued_at"),
        (HEADER + ",colour", "line 1: unknown columns: colour"),
        ("", "line 1: missing columns: call_id, channel, queued_at"),
    ],
)
def test_bad_header(url, db, tmp_path, header, problem):
    result = cli(url, "contacts", "import", _file(tmp_path, header=header))
    assert result.exit_code == 1
    assert problem in result.output
    assert _count(db) == 0


def test_not_utf8_and_bom(url, db, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        (HEADER + "\nD-1,phone,2026-01-01T00:00:00Z,,,,,,,,,,Jos\xe9,\n").encode("latin-1")
    )
    result = cli(url, "contacts", "import", str(latin))
    assert result.exit_code == 1 and "not UTF-8" in result.output
    marked = tmp_path / "bom.csv"
    marked.write_text("\ufeff" + HEADER + "\nD-1,email,2026-01-01T00:00:00Z,,,,,,,,,,,\n")
    result = cli(url, "contacts", "import", str(marked))
    assert result.exit_code == 0, result.output
    assert _count(db) == 1


def test_unknown_city(url, tmp_path):
    result = cli(url, "contacts", "import", _good(tmp_path), "--jurisdiction", "nowhere.example")
    assert result.exit_code == 1


def _write_records(path: Path, rows: int) -> None:
    """`rows` made-up call-detail records over the last 30 days, written as a stream."""
    start = datetime.now(UTC) - timedelta(days=30)
    channels = ("phone",) * 8 + ("chat", "tty")
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for i in range(rows):
            queued = start + timedelta(seconds=20 * i % (29 * 86_400))
            if i % 14 == 0:  # about 7% abandoned
                out.write(f"X-{i},phone,{queued.isoformat()},,,,true,,,,,,,\n")
                continue
            answered = queued + timedelta(seconds=i % 97)
            ended = answered + timedelta(seconds=60 + i % 400)
            language = "es" if i % 5 == 0 else "en"
            linked = "ATX-1" if i % 50 == 0 else ""
            outcome = "request" if linked else "information"
            out.write(
                f"X-{i},{channels[i % 10]},{queued.isoformat()},{answered.isoformat()},"
                f"{ended.isoformat()},{i % 60},false,maria,{language},{i % 9 == 0},{outcome},,"
                f"+1512555{i % 10_000:04d},{linked}\n"
            )


def test_a_switchs_export_at_size(url, db, tmp_path):
    """Every run: 2,000 rows. bench/contacts_import.py sets OPEN311_CONTACTS_IMPORT_ROWS."""
    import os
    import resource
    import time

    rows = int(os.environ.get("OPEN311_CONTACTS_IMPORT_ROWS", "2000"))
    path = tmp_path / "cdr-big.csv"
    _write_records(path, rows)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    first = cli(url, "contacts", "import", str(path))
    loaded = time.monotonic() - started
    assert first.exit_code == 0, first.output
    assert f"{rows:,} rows, {rows:,} new" in first.output
    started = time.monotonic()
    again = cli(url, "contacts", "import", str(path))
    unchanged = time.monotonic() - started
    assert f"0 new, 0 updated, {rows:,} unchanged" in again.output
    assert _count(db) == rows
    # The process's peak resident memory grew by this much at most (kB on Linux).
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    print(
        f"\ncontacts import of {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB): "
        f"{loaded:.1f} s new, {unchanged:.1f} s again (unchanged); "
        f"peak memory grew {grown / 1024:.0f} MB"
    )


def test_a_callers_number_erased_from_the_command_line(url, db, tmp_path):
    cli(url, "contacts", "import", _good(tmp_path))
    env = {"DATABASE_URL": url, "OPEN311_MEDIA_DIR": str(tmp_path)}
    exported = CliRunner().invoke(main, ["privacy", "export", "--phone", "(512) 555-0143"], env=env)
    assert exported.exit_code == 0, exported.output
    assert '"caller_number": "5125550143"' in exported.output
    erased = CliRunner().invoke(main, ["privacy", "erase", "--phone", "512 555 0143"], env=env)
    assert erased.exit_code == 0, erased.output
    assert "contacts 1" in erased.output
    db.expire_all()
    assert db.scalar(select(Contact.caller_number).where(Contact.external_id == "A-2")) is None
    kept = db.scalar(select(Contact.caller_number).where(Contact.external_id == "A-1"))
    assert kept == "+1 512 555 0142"
