"""CSV import (``POST /api/v1/hotel/import/{kind}`` and ``innsight hub import``) through the real
hub on SQLite and PostgreSQL: a real-shaped "Hotel booking demand" file (BOM, semicolons,
M/D/YYYY) imports and re-imports as a no-op; one bad row imports nothing and names its line;
``skip_bad_rows``; ambiguous dates; generic files with a column mapping; double bookings; and
the cancellation model trained on an imported export scoring an imported booking (503 naming
the command and the history needed before)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.ml.api import MLProvider
from hub.ml.config import CancellationConfig, LgbmParams, MLConfig
from hub.ml.schema import HOTEL_BOOKING_COLUMNS
from hub.ml.service import utc_today
from innsight.cli import main
from testkit.hub import RunningHub, hub_settings, running_hub
from testkit.postgres import PostgresServer, scratch_database

pytestmark = pytest.mark.integration

H = "/api/v1/hotel"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
ML = "/api/v1/ml"
ALL_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
ML_CONFIG = MLConfig(
    cancellation=CancellationConfig(
        eval_days=30,
        min_bookings=60,
        lgbm=LgbmParams(n_estimators=30, num_leaves=7, min_child_samples=5),
    )
)
RECENT_ROWS = 180
RECENT_DAYS = 120


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with scratch_database(server, "hub_import") as url:
        yield url


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("import"), None, database_url=database_url)
    with running_hub(settings, start_ingest=False) as running:
        runtime = running.app.state.hub
        # the production service with a small cancellation model: trains in about a second
        running.app.state.ml = MLProvider(
            runtime.session_factory, Path(settings.data_dir) / "ml", ML_CONFIG
        )
        yield running


def dataset_row(i: int, hotel: str) -> dict[str, str]:
    """One row shaped like the public dataset's (its values, its NULL and NA)."""
    canceled = i % 3 == 0
    month = MONTHS[i % len(MONTHS)]
    day = 1 + i % 28
    return {
        "hotel": hotel,
        "is_canceled": "1" if canceled else "0",
        "lead_time": str(10 + i % 200),
        "arrival_date_year": "2016",
        "arrival_date_month": month,
        "arrival_date_week_number": str(1 + i % 52),
        "arrival_date_day_of_month": str(day),
        "stays_in_weekend_nights": str(i % 3),
        "stays_in_week_nights": str(1 + i % 4),
        "adults": "2",
        "children": "NA" if i % 7 == 0 else str(i % 2),
        "babies": "0",
        "meal": "BB",
        "country": "PRT",
        "market_segment": "Online TA" if i % 2 else "Direct",
        "distribution_channel": "TA/TO" if i % 2 else "Direct",
        "is_repeated_guest": "0",
        "previous_cancellations": "0",
        "previous_bookings_not_canceled": "0",
        "reserved_room_type": "A",
        "assigned_room_type": "A",
        "booking_changes": "0",
        "deposit_type": "No Deposit",
        "agent": "NULL" if i % 2 == 0 else "9",
        "company": "NULL",
        "days_in_waiting_list": "0",
        "customer_type": "Transient",
        "adr": f"{75 + i % 50}.50",
        "required_car_parking_spaces": "0",
        "total_of_special_requests": str(i % 3),
        "reservation_status": "Canceled" if canceled else "Check-Out",
        # M/D/YYYY, with days over 12 so that the format can be told
        "reservation_status_date": f"{1 + i % 12}/{13 + i % 15}/2016",
    }


def dataset_csv(rows: list[dict[str, str]], *, delimiter: str = ";", bom: bool = True) -> bytes:
    lines = [delimiter.join(HOTEL_BOOKING_COLUMNS)]
    lines += [delimiter.join(row[c] for c in HOTEL_BOOKING_COLUMNS) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


def _import(hub: RunningHub, kind: str, data: bytes, **params: Any) -> httpx.Response:
    return hub.http.post(
        f"{H}/import/{kind}", files={"file": ("export.csv", data, "text/csv")}, params=params
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _total(hub: RunningHub, path: str, **params: Any) -> int:
    total: int = _ok(hub.http.get(f"{H}/{path}", params={"limit": 1} | params))["total"]
    return total


def test_a_real_shaped_bookings_file_imports_once(hub: RunningHub) -> None:
    hotel = f"Resort {uuid.uuid4().hex[:6]}"
    rows = [dataset_row(i, hotel) for i in range(60)]
    rows.append(dict(rows[5]))  # the dataset repeats identical rows: each is its own booking
    before = _total(hub, "bookings")
    result = _ok(_import(hub, "bookings", dataset_csv(rows)))
    assert result["schema_name"] == "hotel_booking_demand"
    assert result["delimiter"] == ";"
    assert result["date_format"] == "mdy"
    assert result["rows"] == 61
    assert result["created"] == 61
    assert result["rejected"] == []
    assert result["committed"] is True
    assert _total(hub, "bookings") == before + 61
    cancelled = _total(hub, "bookings", status="cancelled")
    assert cancelled >= sum(1 for r in rows if r["is_canceled"] == "1")
    again = _ok(_import(hub, "bookings", dataset_csv(rows)))
    assert again["created"] == 0
    assert again["updated"] == 0
    assert again["unchanged"] == 61
    assert _total(hub, "bookings") == before + 61


def test_one_bad_row_imports_nothing_and_names_its_line(hub: RunningHub) -> None:
    hotel = f"City {uuid.uuid4().hex[:6]}"
    rows = [dataset_row(i, hotel) for i in range(100, 110)]
    rows[3]["arrival_date_month"] = "Smarch"  # line 5: the header is line 1
    before = _total(hub, "bookings")
    response = _import(hub, "bookings", dataset_csv(rows))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors == [
        {
            "field": "line 5",
            "reason": "arrival_date_month: 'Smarch' is not an English month name",
        }
    ]
    assert _total(hub, "bookings") == before

    skipped = _ok(_import(hub, "bookings", dataset_csv(rows), skip_bad_rows=True))
    assert skipped["created"] == 9
    assert [r["line"] for r in skipped["rejected"]] == [5]
    rejected_csv = skipped["rejected_csv"]
    assert rejected_csv.splitlines()[0].startswith("line,reason,hotel,is_canceled")
    assert rejected_csv.splitlines()[1].startswith("5,")
    assert "Smarch" in rejected_csv
    assert _total(hub, "bookings") == before + 9


def test_generic_files_mapping_dates_and_double_bookings(hub: RunningHub) -> None:
    tag = uuid.uuid4().hex[:5]
    rooms = (
        f"Room No,room_type,floor,status,base_rate\n"
        f"{tag}1,dbl{tag},1,NULL,120\n"
        f"{tag}2,dbl{tag},1,dirty,\n"
    ).encode()
    mapping = '{"room_number": "Room No"}'
    result = _ok(_import(hub, "rooms", rooms, mapping=mapping))
    assert (result["created"], result["extra"]["room_types_created"]) == (2, 1)
    assert _ok(hub.http.get(f"{H}/rooms/{tag}2"))["status"] == "cleaning"
    assert _ok(_import(hub, "rooms", rooms, mapping=mapping))["unchanged"] == 2
    missing = _import(hub, "rooms", rooms)
    assert missing.status_code == 422
    assert "room_number" in missing.json()["detail"]

    def bookings(*lines: str) -> bytes:
        header = "booking_id,guest_id,guest_name,check_in_date,check_out_date,room_number,status"
        return "\n".join((header, *lines)).encode()

    ambiguous = bookings(f"B{tag}1,G{tag},An,3/4/2027,3/6/2027,{tag}1,booked")
    response = _import(hub, "bookings", ambiguous)
    assert response.status_code == 422
    assert "date_format" in response.json()["detail"]
    assert _ok(_import(hub, "bookings", ambiguous, date_format="dmy"))["date_format"] == "dmy"
    booked = _ok(hub.http.get(f"{H}/bookings/B{tag}1"))
    assert (booked["check_in_date"], booked["room_number"]) == ("2027-04-03", f"{tag}1")

    clash = bookings(
        f"B{tag}2,G{tag},An,2027-04-05,2027-04-07,{tag}1,reserved",  # the database has 4/3-4/6
        f"B{tag}3,G{tag},An,2027-05-01,2027-05-03,{tag}2,reserved",
        f"B{tag}4,G{tag},An,2027-05-02,2027-05-04,{tag}2,reserved",  # line 4 clashes with line 3
        f"B{tag}5,G{tag},An,2027-05-02,2027-05-04,nowhere,reserved",
    )
    response = _import(hub, "bookings", clash)
    assert response.status_code == 422
    reasons = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(reasons) == {"line 2", "line 4", "line 5"}
    assert f"B{tag}1" in reasons["line 2"]
    assert f"B{tag}3" in reasons["line 4"]
    assert "no room 'nowhere'" in reasons["line 5"]
    assert hub.http.get(f"{H}/bookings/B{tag}3").status_code == 404


def test_employees_and_shifts_import_and_reimport(hub: RunningHub) -> None:
    tag = uuid.uuid4().hex[:5]
    employees = (
        f"employee_id;name;department;attendance_camera\n"
        f"E{tag}1;Mai;housekeeping;yes\n"
        f"E{tag}2;Lan;front_office;NULL\n"
    ).encode("utf-8-sig")
    assert _ok(_import(hub, "employees", employees))["created"] == 2
    assert _ok(hub.http.get(f"{H}/employees/E{tag}1"))["attendance_camera"] is True
    assert _ok(_import(hub, "employees", employees))["unchanged"] == 2
    shifts = (
        "employee_id,weekday,shift_date,start_time,end_time\n"
        f"E{tag}1,Mon,,22:00,06:00\n"
        f"E{tag}2,,24/12/2026,08:00,16:00\n"
        f"E{tag}2,,25/12/2026,08:00,16:00\n"
    ).encode()
    result = _ok(_import(hub, "shifts", shifts))
    assert (result["created"], result["date_format"]) == (3, "dmy")
    assert _ok(_import(hub, "shifts", shifts))["unchanged"] == 3
    listed = _ok(hub.http.get(f"{H}/shifts", params={"employee_id": f"E{tag}2"}))
    assert sorted(s["shift_date"] for s in listed["items"]) == ["2026-12-24", "2026-12-25"]
    unknown = _import(hub, "shifts", b"employee_id,start_time,end_time\nnobody,08:00,16:00\n")
    assert unknown.json()["errors"][0]["field"] == "line 2"
    not_utf8 = _import(hub, "employees", "employee_id,name\nE1,Ng\xe2\n".encode("latin-1"))
    assert not_utf8.status_code == 422
    assert not_utf8.json()["errors"][0]["field"] == "file"


def test_the_cli_imports_with_a_progress_bar(
    hub: RunningHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = hub.settings
    monkeypatch.setenv("INNSIGHT_DATABASE_URL", settings.database_url.get_secret_value())
    hotel = f"Cli {uuid.uuid4().hex[:6]}"
    path = tmp_path / "bookings.csv"
    path.write_bytes(dataset_csv([dataset_row(i, hotel) for i in range(200, 230)], delimiter=","))
    before = _total(hub, "bookings")
    argv = ["hub", "import", "bookings", str(path), "--data-dir", str(settings.data_dir)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "30 created" in captured.out
    assert "mdy" in captured.out
    assert "row" in captured.err  # the bar
    assert _total(hub, "bookings") == before + 30
    assert main(argv) == 0
    assert "30 unchanged" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    rows = [dataset_row(i, hotel) for i in range(300, 305)]
    rows[1]["adr"] = "lots"
    bad.write_bytes(dataset_csv(rows))
    assert main(["hub", "import", "bookings", str(bad), "--data-dir", str(settings.data_dir)]) == 1
    assert f"{bad}:3: adr" in capsys.readouterr().err
    assert _total(hub, "bookings") == before + 30


# -- the models trained on what was imported (issue 16 item 4) ----------------------------


def _mdy(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def recent_row(i: int, today: date) -> dict[str, str]:
    """A past booking shaped like the public dataset's; long lead times without a deposit
    cancel more often, as in the real data."""
    arrival = today - timedelta(days=RECENT_DAYS - (i * RECENT_DAYS) // RECENT_ROWS)
    lead = 5 + (i * 37) % 200
    deposit = "Non Refund" if i % 5 == 0 else "No Deposit"
    canceled = (lead > 90 and deposit == "No Deposit" and i % 3 != 0) or i % 11 == 0
    nights = 1 + i % 4
    status_day = arrival - timedelta(days=lead // 2) if canceled else arrival + timedelta(nights)
    return {
        "hotel": "City Hotel",
        "is_canceled": "1" if canceled else "0",
        "lead_time": str(lead),
        "arrival_date_year": str(arrival.year),
        "arrival_date_month": ALL_MONTHS[arrival.month - 1],
        "arrival_date_week_number": str(arrival.isocalendar().week),
        "arrival_date_day_of_month": str(arrival.day),
        "stays_in_weekend_nights": "0",
        "stays_in_week_nights": str(nights),
        "adults": "2",
        "children": "NA" if i % 7 == 0 else "0",
        "babies": "0",
        "meal": "BB",
        "country": "PRT" if i % 2 else "VNM",
        "market_segment": "Online TA" if i % 2 else "Direct",
        "distribution_channel": "TA/TO" if i % 2 else "Direct",
        "is_repeated_guest": "0",
        "previous_cancellations": "0",
        "previous_bookings_not_canceled": "0",
        "reserved_room_type": "A",
        "assigned_room_type": "A",
        "booking_changes": "0",
        "deposit_type": deposit,
        "agent": "NULL" if i % 2 == 0 else "9",
        "company": "NULL",
        "days_in_waiting_list": "0",
        "customer_type": "Transient",
        "adr": f"{80 + i % 40}.50",
        "required_car_parking_spaces": "0",
        "total_of_special_requests": str(i % 3),
        "reservation_status": "Canceled" if canceled else "Check-Out",
        "reservation_status_date": _mdy(status_day),
    }


def _unavailable(response: httpx.Response, *needles: str) -> None:
    assert response.status_code == 503, response.text
    text = response.text
    for needle in needles:
        assert needle in text, text


def test_the_cancellation_model_trains_on_an_imported_export_and_scores_its_booking(
    hub: RunningHub,
) -> None:
    today = utc_today()
    _unavailable(  # nothing to train on yet: the command and how much history is needed
        hub.http.post(f"{ML}/retrain/cancellation"),
        "innsight ml train --model cancellation",
        "innsight hub import bookings",
        "60 days of bookings",
    )
    _unavailable(
        hub.http.post(f"{ML}/churn/predict", json={"booking_id": "UP-1"}),
        "no cancellation model is trained yet",
        "innsight ml train --model cancellation",
    )

    rows = [recent_row(i, today) for i in range(RECENT_ROWS)]
    result = _ok(_import(hub, "bookings", dataset_csv(rows)))
    assert (result["schema_name"], result["delimiter"], result["date_format"]) == (
        "hotel_booking_demand",
        ";",
        "mdy",
    )
    assert result["created"] == RECENT_ROWS
    arrival = today + timedelta(days=20)
    upcoming = (
        "\ufeffbooking_id;check_in_date;check_out_date;room_type;rate_per_night;channel;"
        f"segment;status\r\nUP-1;{_mdy(arrival)};{_mdy(arrival + timedelta(days=3))};A;95;ota;"
        "Online TA;booked\r\n"
    ).encode()
    assert _ok(_import(hub, "bookings", upcoming))["created"] == 1

    trained = hub.http.post(f"{ML}/retrain/cancellation")
    assert trained.status_code == 200, trained.text
    outcome = trained.json()["outcomes"][0]
    assert outcome["status"] == "promoted", outcome
    data = outcome["data"]
    assert data["rows"] > ML_CONFIG.cancellation.min_bookings
    health = hub.http.get(f"{ML}/health").json()
    model = next(m for m in health["models"] if m["name"] == "cancellation")
    assert model["trained"] is True
    assert model["data"] == data  # the data window it was trained on
    # the tables may also hold the other tests' 2016 bookings: the window then spans them too
    assert data["first_booking"] <= (today - timedelta(days=RECENT_DAYS)).isoformat()
    last = date.fromisoformat(data["last_booking"])
    assert today - timedelta(days=RECENT_DAYS) < last < today - timedelta(days=29)
    assert "60 days of bookings" in model["needs"]

    again = _ok(_import(hub, "bookings", dataset_csv(rows)))  # re-importing changes nothing
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, RECENT_ROWS)
    scored = hub.http.post(f"{ML}/churn/predict", json={"booking_id": "UP-1"})
    assert scored.status_code == 200, scored.text
    body = scored.json()
    assert body["booking_id"] == "UP-1"
    assert 0.0 <= body["churn_probability"] <= 1.0
    assert body["features_used"]["market_segment"] == "Online TA"
    assert body["features_used"]["lead_time"] >= 0
