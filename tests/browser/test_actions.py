"""The supervisor's action panel in a real browser, seen from a tablet and on a wall.

A supervisor (a user in the "Supervisor" group, not a superuser) changes a writable station's
state with the reason tree on a tablet, then resets its part count; a wall on a TV, opened
before and never reloaded, shows each change within a poll or so (the action re-reads the
live status at once), and the audit trail lists both attempts as done.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cwork.client import CWorkClient
from tests.browser.conftest import API_KEY, POLL_INTERVAL, TABLET, Stack, Wall, logged_in_as

pytestmark = pytest.mark.slow

SUPERVISOR = "supervisor1"
#: Run in ``manage.py shell`` against the running dashboard's database.
CREATE_SUPERVISOR = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user(
    os.environ["TEST_USERNAME"], password=os.environ["TEST_PASSWORD"]
)
user.groups.add(Group.objects.get(name="Supervisor"))
user = get_user_model().objects.get(pk=user.pk)
assert not user.is_superuser and user.has_perm("accounts.change_station_state")
print("created", user.pk)
"""

#: The tile's state name, once ``#tile-<pk>`` shows it.
TILE_STATE = """
([id, name]) => {
  const state = document.querySelector(`#${id} .tile-state`);
  return !!state && state.textContent.trim() === name;
}
"""
#: The tile's part count, once it reads 0 ("0 / target" or "0 parts").
TILE_ZERO_PARTS = """
(id) => {
  const count = document.querySelector(`#${id} .tile-count`);
  return !!count && /^0(\\s*\\/|\\s+parts?$)/.test(count.textContent.trim());
}
"""


@pytest.fixture(scope="module")
def supervisor(browser: Any, stack: Stack) -> Iterator[Wall]:
    """A tablet (1024×768) logged in as a new supervisor; its console is kept for a failure."""
    password = secrets.token_urlsafe(16)
    env = {"TEST_USERNAME": SUPERVISOR, "TEST_PASSWORD": password}
    stack.manage("shell", "-c", CREATE_SUPERVISOR, env=env)
    with logged_in_as(browser, stack, SUPERVISOR, password, TABLET) as tablet:
        yield tablet


def writable_station(stack: Stack, wall: Wall) -> tuple[Any, int, list[Any]]:
    """An enabled station in MDC mode, its dashboard pk (from its tile) and the top-level,
    live states it is not in now, as CWork says."""
    with CWorkClient(stack.sim_url, API_KEY) as client:
        stations = [s for s in client.stations() if not s.disabled and s.mdc_mode]
        assert stations, "the simulated factory has no writable station"
        station = stations[0]
        current = client.station_status(station.handle).state.handle
        states = [
            s
            for s in client.states()
            if s.parent_handle is None and not s.extra.get("Archived") and s.handle != current
        ]
    tile_id = wall.page.evaluate(
        """name => {
          for (const tile of document.querySelectorAll("#wall-grid > li.tile")) {
            if (tile.querySelector(".tile-name").textContent.trim() === name) return tile.id;
          }
          return null;
        }""",
        station.name,
    )
    assert tile_id, f"no tile is named {station.name!r}"
    return station, int(tile_id.removeprefix("tile-")), states


def result_of(page: Any, kind: str, timeout: float = 15.0) -> tuple[str, str]:
    """The outcome and message the panel shows next to the form of ``kind``, once swapped in."""
    locator = page.locator(f"#station-actions details:has(form[action$='/{kind}/']) .result")
    locator.wait_for(state="visible", timeout=timeout * 1000)
    return locator.get_attribute("data-outcome") or "", locator.inner_text().strip()


def tile_text(wall: Wall, tile_id: str) -> str:
    return wall.page.evaluate(
        "id => { const t = document.getElementById(id); return t ? t.innerText : null; }",
        tile_id,
    )


def wait_on_tile(wall: Wall, script: str, arg: Any, tile_id: str, bound: float, what: str) -> None:
    try:
        wall.page.wait_for_function(script, arg=arg, timeout=bound * 1000, polling=50)
    except Exception as exc:
        pytest.fail(
            f"#{tile_id} did not show {what} within {bound:g} s: it shows "
            f"{tile_text(wall, tile_id)!r} ({exc.__class__.__name__})",
            pytrace=False,
        )


def test_a_supervisor_changes_the_state_and_resets_the_count_and_the_wall_shows_it(
    stack: Stack, wall: Wall, supervisor: Wall
):
    wall.page.wait_for_function(
        "() => document.getElementById('wall-banner').hidden", timeout=20_000
    )
    wall.page.evaluate("window.__marker = 1")
    station, pk, states = writable_station(stack, wall)
    tile_id = f"tile-{pk}"
    page = supervisor.page
    assert page.viewport_size == TABLET

    page.goto(f"/stations/{pk}/")
    panel = page.locator("#station-actions")
    panel.wait_for(state="visible", timeout=15_000)

    # The state: a top-level reason from the tree (the last radio with its value is the
    # one under "All reasons"; the same reason may also be among the most used).
    change = panel.locator("details:has(form[action$='/change_state/'])")
    change.locator("summary").click()
    offered = set(change.locator("input[name=state]").evaluate_all("l => l.map(i => i.value)"))
    state = next((s for s in states if str(s.handle) in offered), None)
    assert state is not None, f"none of {[s.handle for s in states]} is offered: {sorted(offered)}"
    change.locator(f"input[name=state][value='{state.handle}']").last.check()
    change.locator("textarea[name=comment]").fill("browser test: changed from a tablet")
    started = time.monotonic()
    change.locator("button[type=submit]").click()
    outcome, message = result_of(page, "change_state")
    answered = time.monotonic() - started
    assert outcome == "ok", f"the change was not done: {outcome} {message!r}"
    assert message == "State changed."
    bound = POLL_INTERVAL + 1
    wait_on_tile(
        wall,
        TILE_STATE,
        [tile_id, state.name],
        tile_id,
        bound - (time.monotonic() - started),
        f"the state {state.name!r}",
    )
    shown = time.monotonic() - started
    print(f"state {state.name!r}: panel answered in {answered:.2f} s, tile {shown:.2f} s")

    # The part count: the form's value defaults to 0; its button is the confirmation.
    reset = page.locator("#station-actions details:has(form[action$='/reset_parts/'])")
    reset.locator("summary").click()
    reset.locator("#reset-parts-value").fill("0")
    started = time.monotonic()
    reset.get_by_role("button", name="Confirm: reset the count").click()
    outcome, message = result_of(page, "reset_parts")
    answered = time.monotonic() - started
    assert outcome == "ok", f"the reset was not done: {outcome} {message!r}"
    assert message == "Part count reset."
    bound = POLL_INTERVAL + 3
    wait_on_tile(
        wall,
        TILE_ZERO_PARTS,
        tile_id,
        tile_id,
        bound - (time.monotonic() - started),
        "a count of 0",
    )
    shown = time.monotonic() - started
    print(f"part count reset: panel answered in {answered:.2f} s, tile {shown:.2f} s")
    assert wall.page.evaluate("window.__marker") == 1, "the wall was reloaded"

    # The audit trail (supervisors may see it) lists both, done.
    page.goto("/audit/")
    rows = page.locator("table.audit-table tbody tr").evaluate_all(
        """rows => rows.map(r => ({outcome: r.className,
                                   cells: Array.from(r.cells, c => c.textContent.trim())}))"""
    )
    mine = [r for r in rows if len(r["cells"]) == 8 and r["cells"][1] == SUPERVISOR]
    assert {r["cells"][3] for r in mine} == {"change state", "reset part count"}, rows
    assert all(r["outcome"] == "outcome-ok" and r["cells"][5] == "done" for r in mine), mine
    assert len(mine) == 2, mine
    for row in mine:
        assert re.match(rf"{re.escape(station.name)}\b", row["cells"][2]), row
