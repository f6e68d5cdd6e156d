"""write_report renders every command's page from the jinja2 template set: each section holds what the search
measured, every value a user or a workload typed is escaped, and a chart travels inside the page."""

import json
import re

from matplotlib.figure import Figure

from tightfit import Budget
from tightfit.report import write_report
from tightfit.search import Entry, Measured, run_candidates

CONFUSION = {"confusion": {"labels": ["<b>yes</b>", "no"], "counts": [[7, 1], [2, 9]]}, "decision": "argmax",
             "decision_metric": "accuracy"}  # fmt: skip


def _board():
    entries = [Entry("<script>alert(1)</script>", 0.5), Entry("big & heavy", 0.9)]
    board = run_candidates(entries, Budget(size="8kB"), _measure, executor="inline", applies=("size",),
                           verbose=False)  # fmt: skip
    board.chosen.details.update(CONFUSION)
    return board


def _measure(spec, time_left):
    return Measured(quality=spec, metric="accuracy", size_bytes=int(spec * 10_000))


def _chart(path):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    fig.savefig(path)
    return path


def test_every_section_holds_the_searchs_figures_and_typed_values_are_escaped(tmp_path):
    board = _board()
    page_path = write_report(tmp_path / "run", "fit", board, charts=[_chart(tmp_path / "curve.png"), None],
                             usage=["model = load('m')", "model.predict(X) < 1"], notes=["rows <dropped>"],
                             features=["city=<Oslo>", "joined.month"])  # fmt: skip
    page = page_path.read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>tightfit fit: &lt;script&gt;" in page  # the chosen entry is named in the title
    assert "big &amp; heavy" in page and "size 9kB &gt; 8kB" in page  # the over-limit row and its reason
    assert "<p>Note: rows &lt;dropped&gt;</p>" in page
    assert "Binding limit: <b>size</b>" in page
    rows = re.findall(r'<tr class="(\w+)">', page)
    assert rows == ["chosen", "over_limit"]
    assert "&lt;b&gt;yes&lt;/b&gt;" in page and "<td>7</td><td>1</td>" in page  # the confusion matrix
    assert page.count('src="data:image/png;base64,') == 1  # the chart is inside the page; None is skipped
    assert "Features the model reads (2)</h2>\n<p>city=&lt;Oslo&gt;, joined.month</p>" in page
    assert "model.predict(X) &lt; 1" in page
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["command"] == "fit" and record["notes"][-1] == "rows <dropped>"
    assert record["features"] == ["city=<Oslo>", "joined.month"]


def test_a_board_with_no_entries_says_so_and_names_no_choice(tmp_path):
    board = run_candidates([], Budget(), lambda spec, left: Measured(), executor="inline", verbose=False)
    page = write_report(tmp_path, "plan", board).read_text()
    assert "<p>No entries.</p>" in page and "tightfit plan: nothing fits" in page
    assert "Confusion matrix" not in page and "<h2>Charts</h2>" not in page and "Features" not in page
