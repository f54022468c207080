"""The review's timeline says each state's bucket without colour: a pattern per bucket over
the bars (pooled: one path per bucket and row), the same pattern and an icon in the legend."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils.translation import override

from cwork.oee import Bucket
from kpis.models import StateBucket
from kpis.timeline import PATTERNED, build_timeline
from stations.models import State
from tests.dashboard.test_marks import french
from tests.kpis.test_timeline import BREAKDOWN, RUN, SYNCED, WAIT, at, catalogue, station, top
from tests.lookups import search

pytestmark = pytest.mark.django_db

SETTING, SPINDLE, PAUSE = 2, 5, 4


def day_of_every_bucket():
    catalogue()  # RUN production, WAIT induced stop, BREAKDOWN (cwork id 1) a failure
    State.objects.create(
        cwork_id=SETTING, name="Setting", color="#0000FF", oee_category=2, synced_at=SYNCED
    )
    State.objects.create(
        cwork_id=SPINDLE,
        name="Spindle failure",
        color="#B22222",
        oee_category=2,
        parent=State.objects.get(cwork_id=BREAKDOWN),
        synced_at=SYNCED,
    )
    State.objects.create(
        cwork_id=PAUSE, name="Break", color="#A9A9A9", oee_category=1, synced_at=SYNCED
    )
    st = station()
    hours = [(6, RUN), (7, SETTING), (8, WAIT), (9, BREAKDOWN), (10, SPINDLE), (11, PAUSE)]
    for hour, state_id in hours:
        top(st, at(hour), at(hour + 1), state_id)
    return build_timeline([st], at(6), at(14), now=at(13), width=1600)


def test_each_bar_knows_its_bucket_and_the_row_draws_one_pattern_per_bucket():
    tl = day_of_every_bucket()
    row = tl.rows[0]
    marks = [b.mark for b in row.states if b.kind == "state"]
    assert marks == ["production", "own_stop", "induced_stop", "failure", "failure", "disengaged"]
    markup = str(row.markup)
    for bucket in PATTERNED:
        assert markup.count(f'stroke="url(#kpis-tl-pat-{bucket})"') == 1, bucket
    assert "kpis-tl-pat-production" not in markup
    # Breakdown then its child Spindle failure: one stretch of the failure pattern, 2 h long.
    failure = re.search(r'd="M([\d.]+) 10h([\d.]+)" stroke="url\(#kpis-tl-pat-failure\)"', markup)
    assert failure
    assert float(failure.group(2)) == pytest.approx(400)
    # The patterns are drawn over the bars and let the pointer through to them.
    assert markup.index("kpis-tl-pat-") > markup.index('data-state="Break"')
    assert 'class="tl-pat" pointer-events="none"' in markup


def test_the_shops_mapping_changes_the_pattern():
    StateBucket.objects.create(state_cwork_id=WAIT, bucket=Bucket.DISENGAGED)
    row = day_of_every_bucket().rows[0]
    assert [b.mark for b in row.states if b.label == "Waiting"] == ["disengaged"]
    assert "kpis-tl-pat-induced_stop" not in str(row.markup)


def test_a_long_period_pools_the_patterns_too():
    catalogue()
    st = station()
    t, states = at(0, day=1), [RUN, WAIT, BREAKDOWN]
    for n in range(3000):  # 3,000 short tops over about three weeks
        top(st, t, t + timedelta(minutes=10), states[n % 3])
        t += timedelta(minutes=10)
    row = build_timeline([st], at(0, day=1), at(0, day=1) + timedelta(days=90), now=t).rows[0]
    markup = str(row.markup)
    assert 1 <= markup.count('class="tl-pat"') <= len(PATTERNED)


def render(tl) -> str:
    return render_to_string("kpis/_timeline.html", {"timeline": tl})


def test_the_legend_shows_each_states_pattern_and_icon_with_its_name():
    html = render(day_of_every_bucket())
    for bucket in PATTERNED:
        assert f'<pattern id="kpis-tl-pat-{bucket}"' in html
    legend = html[html.index('class="tl-legend"') : html.index("</ul>")]
    item = search(r'<li data-legend="Spindle failure"[^>]*>(.*?)</li>', legend).group(0)
    assert 'data-bucket="Breakdown"' in item
    assert "tl-swatch-state pat-failure" in item
    assert 'class="mark mark-failure" role="img" aria-label="Breakdown"' in item
    item = search(r'<li data-legend="Production"[^>]*>(.*?)</li>', legend).group(0)
    assert 'class="mark mark-production" role="img" aria-label="Production"' in item
    item = search(r'<li data-legend="No data"[^>]*>(.*?)</li>', legend).group(0)
    assert 'class="mark mark-none" role="img" aria-label="No state"' in item
    item = search(r'<li data-legend="Alarm"[^>]*>(.*?)</li>', legend).group(0)
    assert "mark-" not in item


@pytest.mark.parametrize(
    ("state", "bucket", "label"),
    [("Setting", "own_stop", "Own stop"), ("Spindle failure", "failure", "Breakdown"),
     ("Waiting", "induced_stop", "Induced stop"), ("Break", "disengaged", "Disengaged")],
)  # fmt: skip
def test_the_legend_names_the_buckets_in_french(state, bucket, label):
    tl = day_of_every_bucket()
    with override("fr"):
        html = render(tl)
    item = search(rf'<li data-legend="{state}"[^>]*>(.*?)</li>', html).group(0)
    assert f'class="mark mark-{bucket}" role="img" aria-label="{french(label)}"' in item
