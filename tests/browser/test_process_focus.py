"""Keyboard focus on the process pages is visible, also where KERN hides it.

KERN's base styles take the outline away from every element with a tabindex while it has keyboard
focus (`[tabindex]:not([tabindex="-1"]):focus:focus-visible { outline: 0 }`): the scrollable task
and version tables (role=region, tabindex=0) and the drawn process diagram (bpmn-js makes its
canvas focusable; Ctrl and the arrow keys move it) were tab stops without any focus indicator
(WCAG 2.4.7). The diagram's canvas also had no name and gave no hint of its keys.
"""

from __future__ import annotations

import re

import pytest
import test_process_pages
from playwright.sync_api import Page, expect
from test_process_pages import _log_in

pytestmark = pytest.mark.browser
case = test_process_pages.case  # a dog registration waiting at its review task

TOWN = "/m/musterstadt"
RING = "e => { const s = getComputedStyle(e); return [s.outlineStyle, parseFloat(s.outlineWidth), parseFloat(s.outlineOffset)]; }"


def test_the_scrollable_task_and_version_tables_show_their_keyboard_focus(page: Page, town_admin, otp_code, case):
    _log_in(page, town_admin, otp_code, f"{TOWN}/verwaltung/aufgaben/team/")
    for path in (f"{TOWN}/verwaltung/aufgaben/team/", f"{TOWN}/verwaltung/prozesse/"):
        page.goto(path)
        page.get_by_role("link", name="Liste als JSON").focus()
        page.keyboard.press("Tab")
        table = page.locator(".kern-table-responsive")
        expect(table).to_be_focused()
        style, width, _offset = table.evaluate(RING)
        assert style == "solid" and width >= 2, f"{path}: no focus indicator on the table ({style} {width}px)"


def test_the_drawn_diagram_shows_its_keyboard_focus_is_named_and_says_how_to_move_it(page: Page, town_admin, otp_code,
                                                                                     case):
    path = f"{TOWN}/verwaltung/antraege/{case.reference}/"
    _log_in(page, town_admin, otp_code, path)
    canvas = page.locator("#process-diagram svg").first
    expect(canvas).to_have_attribute("tabindex", "0")
    # Reached with the keyboard: back from the links that follow the diagram (the bpmn.io mark, then the canvas).
    page.locator(".process-diagram__fallback").get_by_role("link", name="Erledigte und aktuelle Schritte").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(canvas).to_be_focused()
    style, width, offset = canvas.evaluate(RING)
    # The canvas box cuts off what lies outside it: the ring must be drawn inside.
    assert style == "solid" and width >= 2 and offset <= -width, (style, width, offset)
    expect(canvas).to_have_accessible_name(re.compile("^Prozessdiagramm: erledigte Schritte mit Häkchen"))
    hint = "Mit der Tastatur: Diagramm mit der Tabulatortaste anwählen, dann mit Strg und den Pfeiltasten verschieben."
    expect(canvas).to_have_accessible_description(hint)
    expect(page.get_by_text(hint)).to_be_visible()
    before = page.locator("#process-diagram .viewport").get_attribute("transform")
    page.keyboard.press("Control+ArrowLeft")
    expect(page.locator("#process-diagram .viewport")).not_to_have_attribute("transform", before)
