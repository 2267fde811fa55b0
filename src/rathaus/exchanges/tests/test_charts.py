"""The SVG bar chart helper: widths, notes after the numbers, shortened labels."""

from rathaus.exchanges.charts import fill_rate_chart


def test_notes_follow_the_numbers_and_value_room_narrows_the_bars():
    chart = fill_rate_chart([("Kanutour", 1, 1), ("Waldtag", 0, 5)], width=640, label_width=240, value_room=220,
                            notes=["Warteliste: 2", "Warteliste: 0"])
    assert chart.max_bar == "180"
    assert [(b.width, b.value_text) for b in chart.bars] == [("180", "100 % (1/1) · Warteliste: 2"),
                                                              ("0", "0 % (0/5) · Warteliste: 0")]


def test_labels_are_shortened_at_max_label():
    label = "ersetzt durch ein besseres Angebot"  # 34 characters
    assert fill_rate_chart([(label, 1, 2)]).bars[0].label == label[:31] + "…"
    assert fill_rate_chart([(label, 1, 2)], max_label=40).bars[0].label == label


def test_a_total_of_zero_draws_an_empty_bar():
    (bar,) = fill_rate_chart([("leer", 0, 0)]).bars
    assert (bar.percent, bar.width, bar.value_text) == (0, "0", "0 % (0/0)")
