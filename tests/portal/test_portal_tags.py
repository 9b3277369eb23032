"""Template filters of the invoice table, which runs them for every row."""

import datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from portal.templatetags.portal_tags import date_element


@pytest.mark.parametrize(
    "day", [datetime.date(2026, 1, 1), datetime.date(2026, 3, 9), datetime.date(1999, 12, 31)]
)
def test_date_element_is_what_the_date_filters_wrote(day):
    django_filters = Template("""<time datetime="{{ d|date:'Y-m-d' }}">{{ d|date:"j M Y" }}</time>""").render(
        Context({"d": day})
    )
    assert date_element(day) == django_filters


def test_an_aware_datetime_is_shown_as_its_local_date(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in January
    with timezone.override("Pacific/Auckland"):
        late = datetime.datetime(2026, 1, 1, 20, 0, tzinfo=datetime.UTC)
        assert date_element(late) == '<time datetime="2026-01-02">2 Jan 2026</time>'


@pytest.mark.parametrize("value", [None, "", "2026-01-01", 3])
def test_anything_but_a_date_renders_nothing(value):
    assert date_element(value) == ""
