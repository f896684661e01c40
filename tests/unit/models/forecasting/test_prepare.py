"""A long-format table → series: keys and order, aggregation, filling, holidays, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from batchform.errors import ValidationError
from batchform.models.forecasting.artifact import SeriesConfig
from batchform.models.forecasting.prepare import prepare
from tests.forecast_data import CONFIG, HEADER, demand_rows, series_rows

SIMPLE = SeriesConfig(item_id="item", timestamp="day", target="sales", frequency="D")


def frame(rows: list[list[str]], header: tuple[str, ...] = HEADER) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(header), dtype=object)


def table(*records: tuple[str, str, str]) -> pd.DataFrame:
    """Rows of (item, day, sales)."""
    return pd.DataFrame([list(r) for r in records], columns=["item", "day", "sales"], dtype=object)


def test_series_keep_the_order_of_their_first_row_and_end_at_their_last_value() -> None:
    rows = series_rows("b", "north", days=10, seed=1) + series_rows("a", "south", days=8, seed=2)
    rows += [["a", "south", "2024-01-09", "1.00", "snacks", ""]]  # a future row of "a"
    prepared = prepare(frame(rows), CONFIG, horizon=3)
    assert [s.key for s in prepared.series] == [("b", "north"), ("a", "south")]
    assert [len(s.y) for s in prepared.series] == [10, 8]
    assert prepared.future_labels() == [
        ["2024-01-11", "2024-01-12", "2024-01-13"],
        ["2024-01-09", "2024-01-10", "2024-01-11"],
    ]
    a = prepared.series[1]
    assert a.x is not None and a.x[8, 0] == 1.0  # its future price
    assert len(prepared.model_input(a).times) == 8 + 3


def test_a_series_starts_at_its_first_value_and_middle_gaps_are_zero() -> None:
    data = table(("a", "2024-01-01", ""), ("a", "2024-01-02", "5"), ("a", "2024-01-04", "7"))
    [series] = prepare(data, SIMPLE, horizon=1).series
    assert series.y.tolist() == [5.0, 0.0, 7.0]
    assert series.observed.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("methods", "filled"),
    [
        ({"middlefill": "value", "middlefill_value": "2.5"}, 2.5),
        ({"middlefill": "mean"}, 6.0),
        ({"middlefill": "max"}, 7.0),
        ({"middlefill": "median"}, 6.0),
    ],
)
def test_middle_filling_methods(methods: dict[str, str], filled: float) -> None:
    data = table(("a", "2024-01-02", "5"), ("a", "2024-01-04", "7"))
    config = dataclasses.replace(SIMPLE, filling=(("sales", tuple(sorted(methods.items()))),))
    [series] = prepare(data, config, horizon=1).series
    assert series.y[1] == filled


def test_finer_timestamps_are_summed_unless_another_aggregation_is_given() -> None:
    data = table(
        ("a", "2024-01-01 09:00", "1"),
        ("a", "2024-01-01 17:00", "2"),
        ("a", "2024-01-02 09:00", "4"),
    )
    [summed] = prepare(data, SIMPLE, horizon=1).series
    assert summed.y.tolist() == [3.0, 4.0]
    averaged = prepare(data, dataclasses.replace(SIMPLE, aggregation="avg"), horizon=1)
    assert averaged.series[0].y.tolist() == [1.5, 4.0]
    first = prepare(data, dataclasses.replace(SIMPLE, aggregation="first"), horizon=1)
    assert first.series[0].y.tolist() == [1.0, 4.0]


def test_repeated_timestamps_need_an_aggregation() -> None:
    data = table(("a", "2024-01-01", "1"), ("b", "2024-01-01", "1"), ("a", "2024-01-01", "2"))
    with pytest.raises(ValidationError) as caught:
        prepare(data, SIMPLE, horizon=1)
    assert "item 'a' has more than one row for timestamp '2024-01-01' (rows 1, 3)" in str(
        caught.value
    )
    assert "Transformations.Aggregation" in str(caught.value)
    combined = prepare(data, dataclasses.replace(SIMPLE, aggregation="max"), horizon=1)
    assert combined.series[0].y.tolist() == [2.0]


def test_future_rows_carry_features_and_gaps_are_filled() -> None:
    rows = series_rows("a", "north", days=6, seed=1, future=2)
    rows[-1][3] = ""  # the last future price is missing: futurefill (zero by default)
    [series] = prepare(frame(rows), CONFIG, horizon=3).series
    assert series.x is not None
    assert series.x.shape == (9, 1)  # 6 history steps + 3 future ones
    assert series.x[6, 0] == pytest.approx(1.4)
    assert series.x[7:, 0].tolist() == [0.0, 0.0]
    config = dataclasses.replace(CONFIG, filling=(("price", (("futurefill", "max"),)),))
    [filled] = prepare(frame(rows), config, horizon=3).series
    assert filled.x is not None
    assert filled.x[7:, 0].tolist() == [pytest.approx(1.4)] * 2


def test_the_holiday_indicator_is_the_last_regressor() -> None:
    data = table(*(("a", f"2024-07-{d:02d}", "1") for d in range(1, 8)))
    prepared = prepare(data, dataclasses.replace(SIMPLE, holiday_country="US"), horizon=2)
    assert prepared.regressors == ("holiday",)
    [series] = prepared.series
    assert series.x is not None
    assert np.flatnonzero(series.x[:, 0]).tolist() == [3]  # July 4th


def test_weekly_holidays_mark_the_week_that_holds_one() -> None:
    data = table(*(("a", f"2024-12-{d:02d}", "1") for d in (2, 9, 16, 23)))
    config = SeriesConfig("item", "day", "sales", "W", holiday_country="US")
    [series] = prepare(data, config, horizon=2).series
    assert series.x is not None
    assert series.x[:, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 0.0]  # Christmas, New Year


def test_an_unknown_holiday_country_is_named() -> None:
    data = table(("a", "2024-01-01", "1"))
    with pytest.raises(ValidationError, match="CountryCode 'XX' has no holiday calendar"):
        prepare(data, dataclasses.replace(SIMPLE, holiday_country="XX"), horizon=1)


def test_a_missing_column_is_named_with_its_role() -> None:
    data = frame(demand_rows(items=1, days=5)).drop(columns=["price"])
    with pytest.raises(ValidationError) as caught:
        prepare(data, CONFIG, horizon=1, source="The training data")
    assert str(caught.value).startswith(
        "The training data has no column 'price' (the feature column); its columns are: item"
    )


def test_a_bad_timestamp_is_named_with_its_row_and_item() -> None:
    rows = demand_rows(items=2, days=5)
    rows[7][2] = "2024-13-45"
    with pytest.raises(ValidationError) as caught:
        prepare(frame(rows), CONFIG, horizon=1)
    assert (
        "the timestamp column 'day' has '2024-13-45' in row 8 (item 'item-1' (store='north'))"
        in str(caught.value)
    )


def test_a_non_numeric_target_is_named_with_its_row_and_item() -> None:
    rows = demand_rows(items=2, days=5, missing=0.0)
    rows[3][5] = "lots"
    with pytest.raises(ValidationError) as caught:
        prepare(frame(rows), CONFIG, horizon=1)
    assert "the target column 'sales' must be numeric, but row 4 (item 'item-0' " in str(
        caught.value
    )
    assert "has 'lots'" in str(caught.value)


def test_too_few_values_name_the_item_and_the_minimum() -> None:
    data = table(
        ("a", "2024-01-01", "1"),
        ("a", "2024-01-02", "1"),
        ("a", "2024-01-03", "1"),
        ("a", "2024-01-04", "1"),
        ("b", "2024-01-02", "1"),
        ("b", "2024-01-03", ""),
    )
    with pytest.raises(ValidationError) as caught:
        prepare(data, SIMPLE, horizon=1, min_values=4)
    assert "item 'b' has 1 values in the target column 'sales'" in str(caught.value)
    assert "at least 4 valid historical values" in str(caught.value)


def test_an_empty_item_id_is_an_error() -> None:
    with pytest.raises(ValidationError, match="row 2 has no item id"):
        prepare(table(("a", "2024-01-01", "1"), (" ", "2024-01-01", "1")), SIMPLE, horizon=1)


def test_common_missing_markers_are_missing_values() -> None:
    data = table(("a", "2024-01-01", "1"), ("a", "2024-01-02", "NaN"), ("a", "2024-01-03", "3"))
    [series] = prepare(data, SIMPLE, horizon=1).series
    assert series.observed.tolist() == [True, False, True]
