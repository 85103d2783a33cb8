"""Render a sample report from the test fixtures and save a screenshot of it (headless Chromium).

    python scripts/screenshot_report.py                      # -> docs/report-screenshot.png
    python scripts/screenshot_report.py --full-page -o /tmp/report.png --html /tmp/report.html

The sample run has planted findings (a padding bug's border heatmap, a stride bug's lattice, a
crash, a timeout, ...), so the picture shows every part of the page a reader meets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "report-screenshot.png"), help="PNG to write")
    parser.add_argument("--html", help="also keep the rendered page here")
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("--height", type=int, default=1500, help="viewport height (ignored with --full-page)")
    parser.add_argument("--full-page", action="store_true", help="capture the whole page, not just the top")
    parser.add_argument("--scroll-to", help="element id to scroll to before the capture, e.g. f5")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from conformance.report.render import render_report
    from tests.report_fixtures import chromium_missing, headless_chromium, sample_records, write_results

    missing = chromium_missing()
    if missing:
        print(f"cannot take a screenshot: {missing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        results = write_results(Path(scratch) / "results.jsonl", sample_records())
        page = Path(args.html) if args.html else Path(scratch) / "conformance.html"
        summary = render_report([str(results)], str(page), title="Convolution conformance report (sample)")
        with headless_chromium(width=args.width, height=args.height) as driver:
            driver.get(page.resolve().as_uri())
            if args.full_page:
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(args.width, height + 120)
            if args.scroll_to:
                driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", args.scroll_to)
            output = Path(args.output)
            output.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(output))
    print(f"{summary.line()}; screenshot {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
