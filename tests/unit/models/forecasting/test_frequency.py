"""ForecastFrequency → grid: parsing, seasons, steps and their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchform.errors import ValidationError
from batchform.models.forecasting.frequency import (
    Frequency,
    anchor_of,
    label_format,
    parse_frequency,
    step_index,
    step_labels,
)


@pytest.mark.parametrize(
    ("text", "expected", "season"),
    [
        ("D", Frequency(1, "D"), 7),
        ("1D", Frequency(1, "D"), 7),
        ("2D", Frequency(2, "D"), 1),
        ("W", Frequency(1, "W"), 52),
        ("2W", Frequency(2, "W"), 26),
        ("3W", Frequency(3, "W"), 1),
        ("M", Frequency(1, "M"), 12),
        ("3M", Frequency(3, "M"), 4),
        ("Y", Frequency(1, "Y"), 1),
        ("H", Frequency(1, "H"), 24),
        ("6H", Frequency(6, "H"), 4),
        ("15min", Frequency(15, "min"), 96),
        ("7min", Frequency(7, "min"), 1),
    ],
)
def test_frequencies_parse_with_their_season(text: str, expected: Frequency, season: int) -> None:
    freq = parse_frequency(text)
    assert freq == expected
    assert freq.season_length == season


@pytest.mark.parametrize("text", ["", "60min", "24H", "7D", "5W", "12M", "2Y", "1S", "D2"])
def test_other_frequencies_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="is not a frequency"):
        parse_frequency(text)


def times(*values: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values)))


def test_weekly_steps_keep_the_data_weekday() -> None:
    data = times("2024-01-07", "2024-01-14", "2024-01-16", "2024-01-28")  # Sundays, a Tuesday
    freq = parse_frequency("W")
    anchor = anchor_of(data.min(), freq)
    steps = step_index(data, anchor, freq)
    assert steps.tolist() == [0, 1, 1, 3]
    labels = step_labels(anchor, freq, np.array([4, 5]))
    assert [d.strftime("%Y-%m-%d %a") for d in labels] == ["2024-02-04 Sun", "2024-02-11 Sun"]


def test_months_count_calendar_months_and_keep_month_ends() -> None:
    data = times("2024-01-31", "2024-02-29", "2024-03-31", "2024-03-02")
    freq = parse_frequency("M")
    anchor = anchor_of(data.min(), freq)
    assert step_index(data, anchor, freq).tolist() == [0, 1, 2, 2]
    labels = step_labels(anchor, freq, np.array([3, 4, 13]))
    assert labels.strftime("%Y-%m-%d").tolist() == ["2024-04-30", "2024-05-31", "2025-02-28"]


def test_months_on_the_first_stay_on_the_first() -> None:
    freq = parse_frequency("M")
    anchor = anchor_of(pd.Timestamp("2023-11-01"), freq)
    labels = step_labels(anchor, freq, np.array([0, 1, 2, 3]))
    assert labels.strftime("%Y-%m-%d").tolist() == [
        "2023-11-01",
        "2023-12-01",
        "2024-01-01",
        "2024-02-01",
    ]


def test_minute_steps_are_aligned_to_their_multiple() -> None:
    data = times("2024-01-01 10:07", "2024-01-01 10:14", "2024-01-01 10:16", "2024-01-01 10:44")
    freq = parse_frequency("15min")
    anchor = anchor_of(data.min(), freq)
    assert str(anchor) == "2024-01-01 10:00:00"
    assert step_index(data, anchor, freq).tolist() == [0, 0, 1, 2]


def test_labels_are_dates_when_the_data_writes_dates() -> None:
    assert label_format(parse_frequency("D"), ["2024-01-01", "2024-01-02"]) == "%Y-%m-%d"
    daily_with_times = ["2024-01-01 00:00:00"]
    assert label_format(parse_frequency("D"), daily_with_times) == "%Y-%m-%d %H:%M:%S"
    assert label_format(parse_frequency("H"), ["2024-01-01"]) == "%Y-%m-%d %H:%M:%S"
