"""The Critique page through `AppTest`, with the real grader over the corpus store."""

from __future__ import annotations

import pytest
from conftest import minimal_pdf

from ui.critique import examples

RECIPE = (
    "Preheat the oven to 180 degrees. Mix flour, sugar and butter, add two eggs, and bake "
    "for forty minutes until golden. Let it cool before slicing."
)


@pytest.fixture
def critique_page(app_test):
    at = app_test().run()
    at.switch_page("ui/critique.py").run()
    assert not at.exception
    return at


def _critique(at):
    [b for b in at.button if b.label == "Critique"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_examples_ship_as_data_files():
    found = examples()
    assert 2 <= len(found) <= 3
    assert all(len(e["text"].split()) > 50 for e in found)


def test_example_click_then_report_with_charts_links_and_download(critique_page):
    at = critique_page
    first = examples()[0]
    at.button(key=f"example-{first['name']}").click().run()
    assert at.text_area(key="design_widget").value.strip() == first["text"].strip()
    at = _critique(at)
    overall = [m for m in at.metric if m.label == "Overall"][0]
    assert overall.value.endswith("/ 100")
    assert len(at.get("vega_lite_chart")) == 2  # stage scores and the time plan
    stages = [e for e in at.expander if "/100" in e.label]
    assert len(stages) == 8
    links = at.get("page_link")
    assert links and all("Study:" in link.proto.label for link in links)
    assert any(link.proto.page.endswith("library") for link in links)
    download = at.get("download_button")[0]
    assert download.proto.label.startswith("Download report")


def test_report_survives_a_visit_to_another_page(critique_page):
    at = critique_page
    at.button(key=f"example-{examples()[1]['name']}").click().run()
    _critique(at)
    at.switch_page("ui/chat.py").run()
    at.switch_page("ui/critique.py").run()
    assert at.text_area(key="design_widget").value.strip() == examples()[1]["text"].strip()
    assert [m for m in at.metric if m.label == "Overall"]


def test_text_that_is_not_a_design_is_called_out(critique_page):
    at = critique_page
    at.text_area(key="design_widget").set_value(RECIPE).run()
    at = _critique(at)
    assert any("does not look like an ML system design" in w.value for w in at.warning)
    assert not at.get("vega_lite_chart")


def test_level_choice_reaches_the_grader(critique_page):
    at = critique_page
    at.button(key=f"example-{examples()[0]['name']}").click().run()
    at.button_group(key="level_widget").set_value("staff").run()
    at = _critique(at)
    assert [m for m in at.metric if m.label == "Level"][0].value == "staff"


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("design.txt", b"We frame churn prediction as binary classification.", "text/plain"),
        ("design.md", b"# Design\n\nRanking model with nDCG.", "text/markdown"),
        ("design.pdf", minimal_pdf("Fraud model trained with a temporal split"), "application/pdf"),
    ],
)
def test_uploaded_design_is_read_into_the_text_box(critique_page, name, data, mime):
    at = critique_page
    at.file_uploader(key="design_upload").set_value((name, data, mime)).run()
    assert not at.exception
    text = at.text_area(key="design_widget").value
    expected = {"txt": "churn prediction", "md": "nDCG", "pdf": "temporal split"}
    assert expected[name.rsplit(".", 1)[1]] in text


def test_unreadable_upload_is_reported(critique_page):
    at = critique_page
    at.file_uploader(key="design_upload").set_value(("broken.pdf", b"%PDF-1.4 junk", "x")).run()
    assert not at.exception
    assert any("broken.pdf" in e.value for e in at.error)
