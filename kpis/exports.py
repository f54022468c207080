"""The shift review as CSV (raw numbers) and as an Excel workbook (formatted)."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from core.formatting import DAY_SECONDS, spreadsheet_duration_format
from core.spreadsheets import safe_cell
from kpis.review import COLUMNS, COUNT, RATE, TIME, Review, Row

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filename(scope: str, period: str, extension: str) -> str:
    """ASCII only: ``review-<scope>-<period>.<ext>``."""
    stem = slugify(f"review-{scope}-{period}") or "review"
    return f"{stem}.{extension}"


def _check_text(row: Row) -> str:
    if row.check == "ok":
        return _("matches CWork")
    if row.check == "differs":
        return _("differs from CWork")
    return _("not cross-checked: %(reason)s") % {"reason": row.check_note}


CSV_HEAD = ["station", "cwork_id", "workshop", *[c.csv for c in COLUMNS], "cross_check"]


def csv_response(review: Review, *, name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(CSV_HEAD)
    for row in [*review.rows, review.total]:
        station = row.station
        writer.writerow(
            [
                "TOTAL" if row.is_total else safe_cell(row.label),
                "" if station is None else station.cwork_id,
                "" if station is None else safe_cell(station.workshop),
                *[_raw(cell.value, cell.column.kind) for cell in row.cells],
                safe_cell(_check_text(row)),
            ]
        )
    return response


def _raw(value: float | None, kind: str) -> str:
    if value is None:
        return ""
    if kind == COUNT:
        return str(int(value))
    if kind == TIME:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return repr(round(value, 6))


BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDE3EA")
DIFF_FILL = PatternFill("solid", fgColor="FDE68A")


def xlsx_response(review: Review, *, name: str, title: str) -> HttpResponse:
    book = Workbook()
    _kpis_sheet(book.active, review, title)
    _sources_sheet(book.create_sheet("Sources"), review)
    _parts_sheet(book.create_sheet("Parts"), review)
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _header(sheet, names: list[str], widths: list[int]) -> None:
    sheet.append(names)
    for index, width in enumerate(widths, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = BOLD
        cell.fill = HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"


def _kpis_sheet(sheet, review: Review, title: str) -> None:
    sheet.title = "KPIs"
    names = [_("Station"), _("Workshop"), *[f"{c.short} ({_unit(c.kind)})" for c in COLUMNS]]
    names.append(_("Cross-check"))
    # A duration is written "123 h 05 min": wider than a rate or a count.
    widths = [24, 16, *[14 if c.kind == TIME else 12 for c in COLUMNS], 40]
    durations = spreadsheet_duration_format()
    _header(sheet, [str(n) for n in names], widths)
    for row in [*review.rows, review.total]:
        values: list = [
            _("TOTAL") if row.is_total else safe_cell(row.label),
            "" if row.station is None else safe_cell(row.station.workshop),
        ]
        for cell in row.cells:
            if cell.value is None:
                values.append(None)
            elif cell.column.kind == TIME:
                values.append(cell.value / DAY_SECONDS)
            else:
                values.append(cell.value)
        values.append(_check_text(row))
        sheet.append(values)
        number = sheet.max_row
        for index, cell in enumerate(row.cells, start=3):
            target = sheet.cell(row=number, column=index)
            if cell.column.kind == TIME:
                target.number_format = durations
            elif cell.column.kind == RATE:
                target.number_format = "0.0%"
            else:
                target.number_format = "0"
            if "differs" in cell.classes:
                target.fill = DIFF_FILL
        if row.is_total:
            for index in range(1, len(values) + 1):
                sheet.cell(row=number, column=index).font = BOLD
    sheet.oddFooter.center.text = title


def _unit(kind: str) -> str:
    """What a column's cells hold, for its header: a duration is written as on the pages
    (``spreadsheet_duration_format``), a rate as a percentage, a count as a whole number."""
    if kind == TIME:
        return _("duration")
    if kind == RATE:
        return "%"
    return _("count")


def _sources_sheet(sheet, review: Review) -> None:
    _header(
        sheet,
        [_("Station"), _("Figure"), _("Source / ours"), _("CWork"), _("Difference")],
        [24, 18, 60, 16, 16],
    )
    for row in review.rows:
        for group, text in row.sources.items():
            sheet.append([safe_cell(row.label), group, safe_cell(text), None, None])
        if row.check == "unchecked":
            sheet.append([safe_cell(row.label), _("cross-check"), _check_text(row), None, None])
    for row, diffs in [
        *[(r, item.differences) for r, item in zip(review.rows, review.report.rows, strict=True)],
        (review.total, review.report.total_differences),
    ]:
        for diff in diffs:
            label = _("TOTAL") if row.is_total else safe_cell(row.label)
            sheet.append([label, diff.figure, diff.ours, diff.cwork, diff.delta])
            number = sheet.max_row
            fmt = "0.0%" if diff.is_rate else "0"
            for index in (3, 4, 5):
                sheet.cell(row=number, column=index).number_format = fmt
                sheet.cell(row=number, column=index).fill = DIFF_FILL
            if not diff.is_rate:
                sheet.cell(row=number, column=2).value = f"{diff.figure} (s)"


def _parts_sheet(sheet, review: Review) -> None:
    _header(
        sheet,
        [
            _("Order"),
            _("Job"),
            _("Reference"),
            _("Parts in the period"),
            _("Parts made (order)"),
            _("Parts to make"),
            _("Progress"),
        ],
        [20, 20, 20, 14, 14, 14, 12],
    )
    for line in review.parts:
        sheet.append(
            [
                safe_cell(line.order),
                safe_cell(line.job),
                safe_cell(line.reference),
                round(line.parts, 2),
                line.parts_made,
                line.parts_to_make,
                line.progress,
            ]
        )
        sheet.cell(row=sheet.max_row, column=4).number_format = "0"
        sheet.cell(row=sheet.max_row, column=7).number_format = "0.0%"
