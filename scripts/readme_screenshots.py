"""Copy the browser tests' screenshots of each face into docs/screenshots/ for the README, made
small: scaled to at most 960 pixels wide and reduced to a 128-colour palette (a page's flat
colours survive it; a PNG of ~60 KB instead of ~150 KB). Run after `make test` (or
`.venv/bin/pytest tests/browser`), which writes var/screenshots/:

    .venv/bin/python scripts/readme_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "var" / "screenshots"
TARGET = ROOT / "docs" / "screenshots"
MAX_WIDTH = 960
COLOURS = 128
# README name -> the browser test's screenshot of that face.
FACES = {
    "map": "map",
    "request": "request-page",
    "report": "report-form",
    "answers": "kb_article",
    "city": "city_charts",
    "docs": "docs",
    "intake": "intake-duplicate",
    "queue": "supervisor-queue",
    "dashboard": "supervisor-dashboard",
    "crew": "crew-board",
}


def shrink(source: Path, target: Path) -> int:
    image = Image.open(source).convert("RGB")
    if image.width > MAX_WIDTH:
        height = round(image.height * MAX_WIDTH / image.width)
        image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target.stat().st_size


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    missing = [shot for shot in FACES.values() if not (SOURCE / f"{shot}.png").exists()]
    if missing:
        print(f"not in {SOURCE}: {', '.join(missing)}; run the browser tests first")
        return 1
    for name, shot in FACES.items():
        size = shrink(SOURCE / f"{shot}.png", TARGET / f"{name}.png")
        print(f"docs/screenshots/{name}.png  {size / 1024:.0f} KB  (from {shot}.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
