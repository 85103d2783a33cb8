"""How long the HTML report takes for a large run: render time, page size, Chromium load time.

    python benchmarks/report_render.py                 # 50,000 synthetic records
    python benchmarks/report_render.py --records 200000 --no-browser

Records come from tests/report_fixtures.large_records (the sample run with planted findings,
repeated under new test ids). Rendering reads the file, aggregates in Python and writes the page;
the browser time is navigation start to the load event in headless Chromium, filter script included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="renders (and page loads) to take the median of")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from conformance.report.render import render_report
    from tests.report_fixtures import chromium_missing, headless_chromium, large_records, write_results

    with tempfile.TemporaryDirectory() as scratch:
        results = write_results(Path(scratch) / "results.jsonl", large_records(args.records))
        page = Path(scratch) / "conformance.html"
        mib = results.stat().st_size / 2**20
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            summary = render_report([str(results)], str(page))
            times.append(time.perf_counter() - started)
        print(f"records: {summary.n_records:,} ({mib:.1f} MiB of JSON lines, {summary.n_malformed} malformed)")
        print(f"render (read + aggregate + template + write): median {statistics.median(times):.2f} s of {args.repeat}")
        print(f"page: {summary.page_bytes / 1024:.0f} KiB, {summary.n_findings} failing finding cards; verdict: {summary.verdict_text}")
        if args.no_browser:
            return 0
        missing = chromium_missing()
        if missing:
            print(f"browser: skipped ({missing})")
            return 0
        with headless_chromium() as driver:
            loads, walls = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                driver.get(page.as_uri())
                walls.append(time.perf_counter() - started)
                loads.append(driver.execute_script(
                    "var t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime;"))
            filter_ms = driver.execute_script(
                "var s = document.getElementById('filter-implementation'); var t0 = performance.now();"
                "s.value = s.options[1].value; s.dispatchEvent(new Event('change'));"
                "return performance.now() - t0;")
        print(f"browser load (navigation start to load event): median {statistics.median(loads):.0f} ms; "
              f"driver.get wall median {statistics.median(walls) * 1000:.0f} ms; one filter change {filter_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
