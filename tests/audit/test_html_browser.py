"""The HTML reports in a real headless Chromium, from real audit runs of the example.

quickstart -> serve -> requests -> the five audits with ``--html`` (clean: all OK), then
``quickstart --plant-skew`` -> the same (each audit alerts). Every page is opened at 1400 px:
nothing may stick out of the viewport (long cells wrap), the key numbers must be on screen,
an OK report draws no red, a warn/alert says what to do next, drift draws a histogram per
feature with integer categories in value order, and the schema report shows no raw ``[]``
and no empty boxes. Marked ``browser`` (about a minute): ``pytest -m browser``; needs
Debian's ``chromium`` at /usr/bin/chromium (or ``PARITY_CHROMIUM``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from store.online.embedded import stop_embedded
from store.sample import entity_frame
from tests.test_example_e2e import EXAMPLE, _serve_and_request, app, runner

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("PARITY_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1400
KINDS = ("parity", "replay", "drift", "leakage", "schema")
# What the page shows, measured in the browser: overflow, visible text, red paint, charts.
MEASURE = """() => {
  const vw = document.documentElement.clientWidth;
  const over = [];
  const red = [];
  const isRed = (c) => {
    const m = c && c.match(/rgba?\\((\\d+), (\\d+), (\\d+)/);
    return m && +m[1] > 170 && +m[2] < 90 && +m[3] < 90;
  };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > vw + 1 || el.scrollWidth > el.clientWidth + 1 &&
        getComputedStyle(el).overflowX !== 'visible')
      over.push(`${el.tagName}.${el.className} right=${Math.round(r.right)}`);
    const s = getComputedStyle(el);
    for (const c of [s.color, s.backgroundColor, s.borderLeftColor, s.fill])
      if (isRed(c) && (r.width > 0 || el.tagName === 'rect')) red.push(el.tagName + ' ' + c);
  }
  const figures = [...document.querySelectorAll('figure')].map((f) => ({
    name: f.querySelector('figcaption b').textContent,
    open: f.closest('details') === null || f.closest('details').open,
    labels: [...f.querySelectorAll('svg > text')].map((t) => t.textContent)
      .filter((t) => !t.endsWith('%')),
  }));
  const emptyPanels = [...document.querySelectorAll('.panel')]
    .filter((p) => !p.querySelector('rect')).length;
  return {vw, docWidth: document.documentElement.scrollWidth, over, red, figures, emptyPanels,
          text: document.body.innerText};
}"""


def _audit(repo: Path, out: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    data = repo / "data"
    out.mkdir(parents=True, exist_ok=True)
    entities = out / "entities.parquet"
    pq.write_table(entity_frame(data), entities)
    extra = {
        "drift": ["--baseline", str(data / "training_frame.parquet")],
        "leakage": ["--entities", str(entities), "-f", "fraud_v2"],
    }
    reports = {}
    for kind in KINDS:
        html, js = out / f"{kind}.html", out / f"{kind}.json"
        args = ["audit", kind, "--repo", str(repo), *extra.get(kind, [])]
        result = runner.invoke(app, [*args, "--html", str(html), "--json", str(js)])
        assert result.exit_code in (0, 1), result.output
        reports[kind] = (html, json.loads(js.read_text()))
    return reports


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    root = tmp_path_factory.mktemp("browser")
    repo = root / "repo"
    repo.mkdir()
    for name in ("parity.yaml", "features.py"):
        shutil.copy(EXAMPLE / name, repo / name)
    runs: dict[str, dict[str, tuple[Path, dict[str, Any]]]] = {}
    try:
        for run, flags in (("clean", []), ("planted", ["--plant-skew"])):
            runner.invoke(app, ["quickstart", "--repo", str(repo), *flags])
            _serve_and_request(repo)
            runs[run] = _audit(repo, root / run)
    finally:
        stop_embedded(repo / "data")
    profile = tempfile.mkdtemp(prefix="parity-chromium-")
    measured: dict[str, Any] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(  # a new, throwaway profile
                profile,
                executable_path=CHROMIUM,
                args=FLAGS,
                viewport={"width": WIDTH, "height": 900},
            )
            page = browser.new_page()
            for run, reports in runs.items():
                for kind, (html, report) in reports.items():
                    page.goto(html.as_uri())
                    page.screenshot(path=str(html.with_suffix(".png")), full_page=True)
                    measured[f"{run}-{kind}"] = (page.evaluate(MEASURE), report)
            browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    yield measured


@pytest.mark.parametrize("run", ["clean", "planted"])
@pytest.mark.parametrize("kind", KINDS)
def test_nothing_overflows_at_1400px(pages: dict[str, Any], run: str, kind: str) -> None:
    shown, _ = pages[f"{run}-{kind}"]
    assert shown["vw"] == WIDTH
    assert shown["docWidth"] <= WIDTH and shown["over"] == [], shown["over"][:5]


@pytest.mark.parametrize("run", ["clean", "planted"])
@pytest.mark.parametrize("kind", KINDS)
def test_key_numbers_and_next_steps_are_shown(pages: dict[str, Any], run: str, kind: str) -> None:
    shown, report = pages[f"{run}-{kind}"]
    text = " ".join(shown["text"].split())
    assert report["status"].upper() in text
    for value in report["summary"].values():
        if isinstance(value, int) and not isinstance(value, bool):
            assert f"{value:,}" in text, (kind, value)
    if report["status"] == "ok":
        assert "What to do next" not in text
    else:
        assert "What to do next" in text
        if kind != "drift":  # each class found has its step, naming the view
            for view, by_class in report["counts"].items():
                for cls, n in by_class.items():
                    if n and cls != "leakage guard":
                        assert f"{cls} ({view}" in text, (kind, cls)


@pytest.mark.parametrize("kind", KINDS)
def test_an_ok_report_draws_no_red(pages: dict[str, Any], kind: str) -> None:
    shown, report = pages[f"clean-{kind}"]
    assert report["status"] == "ok"
    assert shown["red"] == [], shown["red"][:5]


@pytest.mark.parametrize("run", ["clean", "planted"])
def test_drift_draws_every_feature_with_integers_in_order(pages: dict[str, Any], run: str) -> None:
    shown, report = pages[f"{run}-drift"]
    drawn = {f["name"]: f for f in shown["figures"]}
    with_bins = [r for r in report["rows"] if r["histogram"]]
    assert len(with_bins) == len(report["rows"]) and set(drawn) == {r["feature"] for r in with_bins}
    for row in report["rows"]:
        assert drawn[row["feature"]]["open"] == (row["status"] != "ok"), row["feature"]
    integers = [r for r in report["rows"] if r["kind"] == "categorical"]
    counted = 0
    for row in integers:
        labels = drawn[row["feature"]]["labels"]
        if all(label.lstrip("-").isdigit() for label in labels):
            assert [int(x) for x in labels] == sorted(int(x) for x in labels), row["feature"]
            counted += 1
    assert counted >= 2  # tx_24h, merchants_24h, ... are integer categories


@pytest.mark.parametrize("run", ["clean", "planted"])
def test_schema_has_no_raw_lists_or_empty_boxes(pages: dict[str, Any], run: str) -> None:
    shown, _ = pages[f"{run}-schema"]
    assert "[]" not in shown["text"] and "{}" not in shown["text"]
    assert shown["emptyPanels"] == 0
