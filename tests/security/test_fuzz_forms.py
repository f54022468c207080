"""Every form validates anything without raising, and every view answers garbage with a
4xx or a page, never a 500."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.forms import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm
from actions.audit_views import AuditFilter
from actions.forms import FORMS
from kpis.calendar import Calendars
from kpis.forms import ReviewForm
from screens.forms import ScreenForm
from stations.models import Station
from tests.security.test_access import Factory
from tests.stations.test_actions import ALL, make_user

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Texts a browser (or anyone) can send: any characters, numbers, huge numbers, dates.
texts = st.one_of(
    st.text(max_size=60),
    st.integers().map(str),
    st.integers(min_value=10**18, max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e309",
            "NaN",
            "2026-02-30",
            "2026-W53",
            "2026-13",
            "9999-12-31",
            "0000-01-01",
            "2026-11-24T25:61",
            "all",
            "w:",
            "m:",
            "d:",
            "\x00",
            "' OR 1=1 --",
        ]
    ),
)


def field_data(names: tuple[str, ...]):
    return st.dictionaries(st.sampled_from(names), texts, max_size=len(names))


@pytest.fixture
def factory(monkeypatch):
    from actions import services as actions

    factory = Factory()
    monkeypatch.setattr(actions, "cwork_client", lambda api_key=None: factory.client(api_key))
    monkeypatch.setattr(actions, "shared_cwork_client", factory.client)
    return factory


@FUZZ
@given(data=field_data(("state", "comment", "part_count")))
def test_action_forms(factory, data):
    for form_class in FORMS.values():
        form = form_class(data=data)
        if form.is_valid():
            form.values()
        else:
            assert form.errors


@FUZZ
@given(
    data=field_data(("name", "workshop", "mdc_group", "dnc_group", "rotation_seconds", "language"))
)
def test_screen_form(factory, data):
    form = ScreenForm(data=data)
    if form.is_valid():
        assert form.filters is not None


@FUZZ
@given(data=field_data(("station", "user", "action", "outcome", "start", "end")))
def test_audit_filter(factory, data):
    form = AuditFilter(data)
    list(form.filtered()[:5])


@FUZZ
@given(data=field_data(("scope", "period", "date", "shift", "week", "month", "start", "end")))
def test_review_form(factory, data):
    stations = list(Station.objects.order_by("name", "pk"))
    form = ReviewForm(data, stations=stations, calendars=Calendars())
    form.is_valid()


@settings(FUZZ, max_examples=15)
@given(data=field_data(("username", "password")))
def test_login_forms(factory, data):
    cache.clear()
    request = RequestFactory().post("/login/", data)
    for form_class in (ThrottledAuthenticationForm, ThrottledAdminAuthenticationForm):
        form_class(request, data=data).is_valid()


VIEWS = settings(FUZZ, max_examples=12)


@pytest.fixture
def clients(factory):
    sup, staff = Client(raise_request_exception=False), Client(raise_request_exception=False)
    sup.force_login(make_user("sup", *ALL))
    user = make_user("staff")
    user.is_staff = True
    user.save()
    staff.force_login(user)
    return sup, staff


@VIEWS
@given(
    action=st.sampled_from(["change_state", "replace_state", "force_auto", "reset_parts", "x"]),
    pk=st.one_of(st.integers(0, 30), st.integers(10**10, 10**30)),
    data=field_data(("state", "comment", "part_count", "idempotency_key")),
)
def test_posting_garbage_to_the_actions_never_fails(clients, action, pk, data):
    client = clients[0]
    response = client.post(f"/stations/{pk}/actions/{action}/", data)
    assert response.status_code < 500, (action, pk, data)
    htmx = client.post(f"/stations/{pk}/actions/{action}/", data, headers={"HX-Request": "true"})
    assert htmx.status_code < 500, (action, pk, data)


@VIEWS
@given(
    query=field_data(
        (
            "q",
            "workshop",
            "mdc_group",
            "dnc_group",
            "scope",
            "period",
            "date",
            "shift",
            "week",
            "month",
            "start",
            "end",
            "station",
            "user",
            "action",
            "outcome",
            "fresh",
            "next",
        )
    ),
    form=field_data(
        (
            "name",
            "workshop",
            "mdc_group",
            "dnc_group",
            "rotation_seconds",
            "language",
            "username",
            "password",
        )
    ),
    pk=st.one_of(st.integers(0, 30), st.integers(10**10, 10**30)),
    token=st.text(
        alphabet=st.characters(blacklist_characters="/?#%", blacklist_categories=["Cs"]),
        min_size=1,
        max_size=200,
    ),
)
def test_garbage_to_every_page_never_fails(clients, query, form, pk, token):
    cache.clear()
    client, staff = clients
    for url in (
        "/wall/",
        "/stations/",
        f"/stations/{pk}/",
        "/audit/",
        "/audit/export.csv",
        "/kpis/review/",
        "/kpis/review/export.csv",
        "/kpis/review/export.xlsx",
        "/screens/",
    ):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, query, headers=headers)
            assert response.status_code < 500, (url, query)
    for url in (
        "/screens/new/",
        f"/screens/{pk}/identify/",
        f"/screens/{pk}/link/",
        f"/screens/{pk}/revoke/",
        f"/screens/{pk}/delete/",
        f"/screens/{pk}/reload/",
    ):
        assert staff.post(url, form).status_code < 500, (url, form)
    anonymous = Client(raise_request_exception=False)
    assert anonymous.post("/login/", form).status_code < 500, form
    assert anonymous.post("/admin/login/", form).status_code < 500, form
    for method in ("get", "post"):
        response = getattr(anonymous, method)(f"/screens/enrol/{token}/")
        assert response.status_code < 500, token


@pytest.mark.parametrize("bound", ["0001-01-01", "9999-12-31"])
def test_the_audit_filter_takes_the_calendars_extremes(factory, client, bound):
    client.force_login(make_user("auditor", "view_audit"))
    for url in ("/audit/", "/audit/export.csv"):
        assert client.get(url, {"start": bound, "end": bound}).status_code == 200
