"""The README's lines of "Languages" and "A city's texts in other languages" work as printed,
against `open311 serve` on the Los Angeles and Austin demo cities."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.helpers import README_DEMO_GROUP, ReadmeDemo
from tests.e2e.test_readme import README, run

STRICT = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'


def subsection_blocks(title: str) -> list[str]:
    """The ```sh blocks of the README's `### {title}` subsection."""
    body = README.split(f"\n### {title}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.S)


pytestmark = README_DEMO_GROUP


@pytest.fixture
def demo(readme_demo: ReadmeDemo) -> tuple[str, Path, str]:
    """Los Angeles and Austin (tests/e2e/conftest.py)."""
    return readme_demo.base, readme_demo.workdir, readme_demo.url


def test_the_language_lines(demo):
    base, workdir, _url = demo
    (block,) = subsection_blocks("Languages: `locale`, `Accept-Language`, `Content-Language`")
    assert block.count("curl ") == 7
    result = run(STRICT + block, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert '"locales":["en","es","vi","ar"],"default_locale":"en"' in out  # discovery
    assert '"service_name":"Thỉnh cầu sửa chữa ổ gà trên đường"' in out  # vi, by parameter
    assert '"service_name":"Solicite la reparación de un hueco en la carretera"' in out  # es-MX
    assert "<service_name>طلب إصلاح حفرة</service_name>" in out  # ar, XML
    assert re.search(r"(?i)content-language: en", out) and re.search(r"(?i)vary:.*accept", out)


def test_the_translation_lines(demo):
    base, workdir, url = demo
    (block,) = subsection_blocks("A city's texts in other languages: translations, PO and XLIFF")
    staff = base.replace("/open311/v2", "/api/v1")
    block = block.replace("http://127.0.0.1:5311/api/v1", staff)
    result = run(STRICT + block, base, workdir, url)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert '"coverage":[{"locale":"es"' in out
    assert '"stored":1' in out  # the PUT
    assert (workdir / "austin-es.po").read_text().count("msgid") > 27
    assert out.rstrip().endswith("204")


def bash_blocks(title: str) -> list[str]:
    body = README.split(f"\n### {title}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def test_the_command_lines(demo):
    base, workdir, url = demo
    (languages,) = bash_blocks("Languages: `locale`, `Accept-Language`, `Content-Language`")
    made = run("set -euo pipefail\n" + languages, base, workdir, url)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    for printed in re.findall(r"# (boston\.gov: .*)", languages):
        assert printed in made.stdout
    (commands,) = bash_blocks("A city's texts in other languages: translations, PO and XLIFF")
    result = run("set -euo pipefail\n" + commands, base, workdir, url)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # The counts follow the demo's Spanish (209 context-free translations when written), so only
    # the line's shape and the bulk of the catalogue are held to what the README prints.
    (printed,) = re.findall(r"# (stored .*)", commands)
    shape = r"stored (\d+) translations into es; skipped 0 fuzzy and \d+ untranslated"
    assert re.fullmatch(shape, printed)
    assert int(re.search(shape, result.stdout).group(1)) >= 209, result.stdout
    assert (workdir / "austin-vi.xlf").read_bytes().startswith(b"<?xml")
