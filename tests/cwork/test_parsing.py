"""cwork.parsing: the vendor's invalid JSON repaired (and said so), the rest refused loudly.

The malformed bodies below are the documentation's own examples (cwork-api-v1.9.txt), copied
as they are printed there: CWork's answers look like that, so the dashboard must read them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cwork.errors import CWorkProtocolError
from cwork.parsing import Fields, loads

LOGGER = "cwork.client"

# --- the doc's malformed examples, verbatim -------------------------------------------------

# GET /users (two of its four records): "Phone": , is an empty value.
USERS_EMPTY_VALUES = r"""[
    {
        "Handle": 1,
        "Name": "Administrator",
        "Mail": "",
        "Phone": ,
        "Group": "Administrators",
        "GroupID": 1,
        "Visible": false
    },
    {
        "Handle": 4,
        "Name": "APIUser",
        "Mail": "",
        "Phone": ,
        "Group": "Administrators",
        "GroupID": 1,
        "Visible": false
    }
]"""

# GET /stations/7/runningprograms: a trailing comma in the last object.
PROGRAMS_TRAILING_COMMA_IN_OBJECT = r"""[
    {
        "Name" : "PGM0014",
        "Context" : "COLONNE",
        "StartDate" : "2018-08-29T10:00:20.000Z",
        "EndDate" : "2018-08-29T11:31:19.000Z",
    }
]"""

# GET /operations?cnc=1&order=2 (tail): trailing commas after an object and in the list.
OPERATIONS_TRAILING_COMMA_IN_LIST = r"""[
    {
          "OperationId": 3,
          "OrderId": 2,
          "Name": "HyperOperation 2",
          "CreationDate": "2023-07-12T09:48:25.000Z",
          "Description": "Operation for the part 1234",
          "CNCId": 2,
          "DocumentId": 0,
          "CurrentState": -1,
          "PartsToMake": 460,
          "PartsMade": 12,
          "PartsPerCycle": 4,
          "CycleTime": 68000
      },

]"""

# GET /documents (second record): a Windows folder whose final backslash is not escaped.
DOCUMENT_BACKSLASH_FOLDER = r"""{
                    "DocumentId": 8,
                    "DocumentIdAlias" : 7,
                    "Reference": "HSC80",
                    "Extension": "MPF",
                    "Folder": "random-folder\",
                    "StationId": 17,
                    "DisplayStatus": "TESTING"
}"""

# GET /documents/27/versions/38/certify, the answer: double braces and a // comment.
CERTIFY_ANSWER = r"""{
    {
      "Comments":"Validating by CAPI",
      "NewStatus":"VALIDATED",
      "VersionId":45 // Contains the edited or added version identifier (depends on the used scenario)
      }
}"""  # noqa: E501  (the doc's line, as printed)

# ... and the request body printed with it: double braces alone.
CERTIFY_REQUEST = r"""{
    {
      "Comments":"Validating by CAPI",
      "NewStatus":"VALIDATED"
  }
}"""

# GET /station_statuses/4: "sss}" cannot be given one meaning.
STATUS_WITH_STRAY_SSS = r"""{
    "Reference": "C138568-304",
    "Order": "588558",
    "Job": "30",
    "JobCycleTime": "5894",
    "PartCount": "50",
    "State": {
        "Handle": 2,
        "Name": "Setting",
        "Color": "#0000FF",
        "OEECategory": 2,
        "ParentHandle": null,
        "CloseDay": false,
        "ProdPercent": false,
        "UsePercent": true
        sss},
    "LastTop": "2015-10-29T16:58:00.000+01:00",
    "Comment": "Setting for next job (588558-30)"
}"""


def repair_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and "repaired" in r.getMessage()
    ]


# --- repairs --------------------------------------------------------------------------------


def test_empty_values_are_read_as_null_and_the_repair_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    users = loads(USERS_EMPTY_VALUES.encode())
    assert [u["Phone"] for u in users] == [None, None]
    assert [u["Handle"] for u in users] == [1, 4]
    assert users[0]["Group"] == "Administrators"  # the value after the hole is intact
    messages = repair_messages(caplog)
    assert len(messages) == 1
    assert "empty value read as null" in messages[0]


def test_trailing_comma_in_an_object_is_dropped(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    programs = loads(PROGRAMS_TRAILING_COMMA_IN_OBJECT)
    assert programs == [
        {
            "Name": "PGM0014",
            "Context": "COLONNE",
            "StartDate": "2018-08-29T10:00:20.000Z",
            "EndDate": "2018-08-29T11:31:19.000Z",
        }
    ]
    assert any("trailing comma" in m for m in repair_messages(caplog))


def test_trailing_comma_in_a_list_is_dropped(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    operations = loads(OPERATIONS_TRAILING_COMMA_IN_LIST)
    assert len(operations) == 1
    assert operations[0]["CycleTime"] == 68000
    assert any("trailing comma" in m for m in repair_messages(caplog))


def test_backslash_before_the_closing_quote_is_a_windows_folder(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    document = loads(DOCUMENT_BACKSLASH_FOLDER)
    assert document["Folder"] == "random-folder\\"
    # The string ended there: the next key was not swallowed into the folder name.
    assert document["StationId"] == 17
    assert document["DisplayStatus"] == "TESTING"
    assert any("backslash before a closing quote" in m for m in repair_messages(caplog))


def test_comment_and_double_braces_of_the_certify_answer(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    answer = loads(CERTIFY_ANSWER.encode())
    assert answer == {"Comments": "Validating by CAPI", "NewStatus": "VALIDATED", "VersionId": 45}
    [message] = repair_messages(caplog)
    assert "comment removed" in message
    assert "doubly wrapped object unwrapped" in message


def test_double_braces_alone(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert loads(CERTIFY_REQUEST) == {"Comments": "Validating by CAPI", "NewStatus": "VALIDATED"}
    assert any("doubly wrapped object unwrapped" in m for m in repair_messages(caplog))


def test_the_endpoint_is_named_in_the_repair_warning(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    loads(PROGRAMS_TRAILING_COMMA_IN_OBJECT, endpoint="running_programs")
    [message] = repair_messages(caplog)
    assert "running_programs" in message


def test_repairs_leave_look_alikes_inside_strings_alone(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    body = '{"Comment": "see //server/share, then: ,}", "Path": "C:\\\\nc\\\\", "Count": 3,}'
    assert loads(body) == {
        "Comment": "see //server/share, then: ,}",
        "Path": "C:\\nc\\",
        "Count": 3,
    }
    [message] = repair_messages(caplog)
    assert message.endswith("trailing comma")  # the only repair made


def test_valid_json_is_untouched_and_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG)
    body = (
        '{"Folder": "folder1\\\\", "Comment": "a // not a comment, }", '
        '"Nested": {"Values": [1, 2.5, null, true]}, "Empty": ""}'
    )
    assert loads(body.encode()) == {
        "Folder": "folder1\\",
        "Comment": "a // not a comment, }",
        "Nested": {"Values": [1, 2.5, None, True]},
        "Empty": "",
    }
    assert loads("[]") == []
    assert loads("\ufeff{}") == {}  # a byte-order mark is not a repair
    assert [r for r in caplog.records if r.name == LOGGER] == []


# --- what cannot be repaired ----------------------------------------------------------------


def test_the_stray_sss_of_the_status_example_is_refused_with_an_excerpt(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with pytest.raises(CWorkProtocolError) as caught:
        loads(STATUS_WITH_STRAY_SSS.encode(), endpoint="station_status")
    error = caught.value
    assert error.excerpt.startswith('{\n    "Reference": "C138568-304",')
    assert error.endpoint == "station_status"
    assert "station_status" in str(error)
    assert repair_messages(caplog) == []  # nothing claims to have been repaired


@pytest.mark.parametrize(
    ("body", "excerpt_start"),
    [
        pytest.param(
            b'{"Handle": 7, "Name": "HSC70", "MDCGroups": ["Mill', '{"Handle": 7', id="cut"
        ),
        pytest.param(
            b"<html><head><title>502 Bad Gateway</title></head><body></body></html>",
            "<html><head><title>502 Bad Gateway",
            id="html",
        ),
        pytest.param(b"Service Unavailable", "Service Unavailable", id="plain-text"),
        pytest.param(b"", "", id="empty"),
        pytest.param(b"  \r\n", "", id="blank"),
    ],
)
def test_unrepairable_bodies_raise_a_protocol_error(body, excerpt_start):
    with pytest.raises(CWorkProtocolError) as caught:
        loads(body)
    assert caught.value.excerpt.startswith(excerpt_start)


def test_the_excerpt_is_bounded():
    body = b'{"Alarms": [' + b'{"Code": "0139"}, ' * 2000 + b"oops]}"
    with pytest.raises(CWorkProtocolError) as caught:
        loads(body)
    excerpt = caught.value.excerpt
    assert excerpt.startswith('{"Alarms": [{"Code": "0139"}')
    assert 0 < len(excerpt) <= CWorkProtocolError.EXCERPT_LENGTH
    assert len(str(caught.value)) < 1000  # a log line, not the whole answer


# --- Fields: one record's values, the way CWork sends them ----------------------------------


def test_numbers_sent_as_strings_are_numbers():
    f = Fields(
        {"JobCycleTime": "5894", "PartCount": " 50 ", "TotalParts": 892, "Size": "12.0"},
        "StationStatus",
    )
    assert f.integer("JobCycleTime") == 5894
    assert f.integer("PartCount") == 50
    assert f.integer("TotalParts") == 892
    assert f.integer("Size") == 12
    assert f.problems == []


def test_a_number_that_is_not_one_is_none_with_a_problem():
    f = Fields({"PartCount": "abc", "Rate": "n/a", "Ratio": "0.68"}, "StationStatus")
    assert f.integer("PartCount") is None
    assert f.number("Rate") is None
    assert f.number("Ratio") == pytest.approx(0.68)
    assert len(f.problems) == 2
    assert "PartCount" in f.problems[0]
    assert "'abc'" in f.problems[0]


def test_a_required_field_that_is_missing_or_unreadable_raises():
    with pytest.raises(CWorkProtocolError):
        Fields({"Name": "HSC70"}, "Station").integer("Handle", required=True)
    with pytest.raises(CWorkProtocolError) as caught:
        Fields({"Handle": "seven"}, "Station").integer("Handle", required=True)
    assert "Station.Handle" in str(caught.value)
    with pytest.raises(CWorkProtocolError):
        Fields(["not", "an", "object"], "Station")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("0", False), (1, True), (0, False), (True, True), (False, False)],
)
def test_flags_sent_as_strings_or_numbers(value, expected):
    assert Fields({"CanChangeState": value}, "Group").flag("CanChangeState") is expected


def test_a_flag_that_is_not_one_is_none_with_a_problem():
    f = Fields({"CanChangeState": "2"}, "Group")
    assert f.flag("CanChangeState") is None
    assert len(f.problems) == 1


@pytest.mark.parametrize("key", ["DNCgroup", "DNCGroup", "dncgroup"])
def test_keys_match_whatever_their_casing(key):
    f = Fields({"Handle": 7, key: "HSCGroup"}, "Station")
    assert f.text("DNCGroup") == "HSCGroup"
    assert f.extra() == {"Handle": 7}  # the key read is not reported as unknown


def test_keys_not_read_are_kept_as_extra():
    f = Fields({"Handle": 7, "Name": "HSC70", "Spindle": {"Speed": 12000}}, "Station")
    f.integer("Handle")
    f.text("Name")
    assert f.extra() == {"Spindle": {"Speed": 12000}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-06-30T17:19:00.000Z", datetime(2015, 6, 30, 17, 19, tzinfo=UTC)),
        (
            "2023-06-30T17:19:00+08:00",
            datetime(2023, 6, 30, 17, 19, tzinfo=timezone(timedelta(hours=8))),
        ),
        (
            "2015-10-29T16:58:00.000+01:00",
            datetime(2015, 10, 29, 16, 58, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_dates_keep_their_offset(text, expected):
    f = Fields({"LastTop": text}, "StationStatus")
    value = f.datetime("LastTop")
    assert value == expected
    assert value.utcoffset() == expected.utcoffset()  # the server's zone is kept, not dropped
    assert f.problems == []


def test_an_offset_date_is_the_same_instant_in_utc():
    value = Fields({"LastTop": "2015-10-29T16:58:00.000+01:00"}, "S").datetime("LastTop")
    assert value is not None
    assert value.astimezone(UTC) == datetime(2015, 10, 29, 15, 58, tzinfo=UTC)


def test_a_date_without_offset_is_read_as_utc_and_noted():
    f = Fields({"LastTop": "2015-10-29T16:58:00"}, "StationStatus")
    value = f.datetime("LastTop")
    assert value == datetime(2015, 10, 29, 16, 58, tzinfo=UTC)
    assert value.tzinfo is not None
    assert len(f.problems) == 1
    assert "LastTop" in f.problems[0]
    assert "UTC" in f.problems[0]


@pytest.mark.parametrize("text", ["2018-08-28T:09:20.000Z", "2015-06-38T17:19:00.000Z", "soon"])
def test_an_invalid_date_is_none_with_a_problem(text):
    f = Fields({"EndDate": text}, "ProgramRun")
    assert f.datetime("EndDate") is None
    assert len(f.problems) == 1
    assert text in f.problems[0]


def test_an_invalid_required_date_raises():
    with pytest.raises(CWorkProtocolError):
        Fields({"StartDate": "2018-08-28T:09:20.000Z"}, "Alarm").datetime(
            "StartDate", required=True
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#87D37C", "#87D37C"), ("#87d37c", "#87D37C"), ("808080", "#808080"), ("#abc", "#AABBCC")],
)
def test_colours_are_normalised(value, expected):
    f = Fields({"Color": value}, "State")
    assert f.color("Color") == expected
    assert f.problems == []


@pytest.mark.parametrize("value", ["red", "#12345", "#GG0000", 255])
def test_a_bad_colour_is_none_with_a_problem(value):
    f = Fields({"Color": value}, "State")
    assert f.color("Color") is None
    assert len(f.problems) == 1
    assert "Color" in f.problems[0]
