"""Static covariates travel with the customer data: attach, encode, save, refuse clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.models import NBDModel
from clv.models.contract import PurchaseCapabilities, SpendCapabilities
from clv.summary import CovariateDesign, CustomerData, attach_covariates, calibration_holdout


def _data(ids=("a", "b", "c", "d")) -> CustomerData:
    n = len(ids)
    table = pd.DataFrame({"customer_id": list(ids), "frequency": np.arange(n) % 3,
                          "recency": np.arange(n, dtype=float), "T": np.full(n, 10.0)})
    return CustomerData(table, time_unit="week")


def _covariates() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["d", "c", "b", "a", "zz"], "channel": ["web", "shop", "web", "app", "web"],
                         "age": [40, 31, 22, 50, 99]})


def test_attach_encodes_categoricals_against_the_most_frequent_level_and_keeps_numbers_as_given():
    data = _data()
    out = attach_covariates(data, _covariates())
    assert out.covariate_names == ("channel=app", "channel=shop", "age")
    assert out.covariates.references == {"channel": "web"}
    assert out.covariates.kinds == ("categorical", "numeric")
    assert out.covariates.levels["channel"] == ("web", "app", "shop")
    np.testing.assert_array_equal(out.covariate_matrix(), [[1, 0, 50], [0, 0, 22], [0, 1, 31], [0, 0, 40]])
    assert "reference level web" in out.covariates.describe()
    assert data.covariates is None and "age" not in data.table.columns  # the user's data is untouched
    assert out.time_unit == "week" and len(out) == 4


def test_reference_level_can_be_chosen_and_an_unknown_one_is_refused():
    out = attach_covariates(_data(), _covariates(), reference={"channel": "shop"})
    assert out.covariate_names == ("channel=app", "channel=web", "age")
    with pytest.raises(DataError, match="reference level 'mail' of covariate 'channel'.*Fix"):
        attach_covariates(_data(), _covariates(), reference={"channel": "mail"})


def test_without_covariates_gives_back_the_plain_data():
    data = _data()
    out = attach_covariates(data, _covariates(), ["age"])
    back = out.without_covariates()
    assert back.covariates is None and back.covariate_names == ()
    pd.testing.assert_frame_equal(back.table, data.table)
    assert back.covariate_matrix().shape == (4, 0)
    assert data.without_covariates() is data


def test_parquet_round_trip_keeps_the_design(tmp_path):
    out = attach_covariates(_data(), _covariates())
    back = CustomerData.read_parquet(out.to_parquet(tmp_path / "c.parquet"))
    assert back.covariates == out.covariates
    np.testing.assert_array_equal(back.covariate_matrix(), out.covariate_matrix())
    plain = CustomerData.read_parquet(_data().to_parquet(tmp_path / "p.parquet"))
    assert plain.covariates is None
    assert "covariates" not in _data().metadata()  # files without covariates are written as before


def test_split_data_keeps_its_split_and_unit_conversion_keeps_the_design():
    orders = pd.DataFrame({"customer_id": ["a", "a", "b", "a", "b"],
                           "order_ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-08",
                                                       "2024-02-05", "2024-02-19"]),
                           "amount": [10.0, 20.0, 5.0, 30.0, 15.0]})
    split = calibration_holdout(orders, calibration_end="2024-01-31", observation_end="2024-02-28")
    out = attach_covariates(split, pd.DataFrame({"customer_id": ["a", "b"], "vip": [True, False]}))
    assert out.is_split and out.holdout_length == split.holdout_length
    assert out.covariate_names == ("vip=True",) or out.covariate_names == ("vip=False",)
    days = out.in_time_unit("day")
    assert days.covariates == out.covariates
    np.testing.assert_array_equal(days.covariate_matrix(), out.covariate_matrix())
    assert out.with_table(out.table.iloc[:1]).covariate_matrix().shape == (1, 1)


def test_numeric_ids_in_the_file_match_text_ids_in_the_data(tmp_path):
    path = tmp_path / "cov.csv"
    pd.DataFrame({"Id": [2, 1, 3], "gender": [0, 1, 1]}).to_csv(path, index=False)
    out = attach_covariates(_data(("1", "2", "3")), path, ["gender"], id_column="Id")
    np.testing.assert_array_equal(out.covariate_matrix()[:, 0], [1, 0, 1])


@pytest.mark.parametrize(("table", "columns", "kwargs", "message"), [
    (pd.DataFrame({"customer_id": ["a", "b", "c"], "age": [1, 2, 3]}), None, {},
     r"1 customer\(s\) have no row in the covariate table .*'d'.*Fix"),
    (pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "age": [1, None, 3, 4]}), None, {},
     r"covariate 'age' is missing for 1 customer\(s\): 'b'.*Fix"),
    (pd.DataFrame({"customer_id": ["a", "a", "c", "d", "b"], "age": [1, 2, 3, 4, 5]}), None, {},
     r"several rows for customer id\(s\) 'a'.*Fix"),
    (pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "age": [1, 1, 1, 1]}), None, {},
     r"covariate 'age' has one value only.*Fix"),
    (pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "Age": [1, 2, 3, 4]}), ["age"], {},
     r"covariate column 'age' is not in the covariate table \(did you mean 'Age'\?\).*--covariate-cols"),
    (pd.DataFrame({"id": ["a", "b", "c", "d"], "age": [1, 2, 3, 4]}), None, {},
     r"no customer-id column 'customer_id'; columns found: id, age.*--covariate-id COL"),
    (pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "T": [1, 2, 3, 4]}), None, {},
     r"\['T'\] would overwrite columns of the customer table.*Fix: rename"),
])
def test_bad_covariates_are_refused_naming_column_customers_and_fix(table, columns, kwargs, message):
    with pytest.raises(DataError, match=message):
        attach_covariates(_data(), table, columns, **kwargs)


def test_many_absent_customers_are_counted_not_all_listed():
    data = _data(tuple(f"c{i}" for i in range(20)))
    with pytest.raises(DataError, match=r"20 customer\(s\).*'c4' and 15 more"):
        attach_covariates(data, pd.DataFrame({"customer_id": ["x", "y"], "age": [1, 2]}))


def test_capability_flags_default_to_no_covariates():
    assert PurchaseCapabilities().static_covariates is False
    assert SpendCapabilities().covariates is False


def test_a_model_without_covariate_support_refuses_data_with_covariates_and_names_the_fix():
    out = attach_covariates(_data(), _covariates(), ["age"])
    with pytest.raises(DataError, match=r"model 'nbd' does not take covariates.*\['age'\].*without_covariates"):
        NBDModel().fit(out)


def test_a_design_with_a_column_the_table_lacks_is_refused():
    design = CovariateDesign(("age",), ("numeric",), ("age",))
    with pytest.raises(DataError, match="lacks the covariate column"):
        CustomerData(_data().table, time_unit="week", covariates=design)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["x", "y", "z"]), min_size=2, max_size=30).filter(lambda v: len(set(v)) > 1),
       st.randoms(use_true_random=False))
def test_dummies_reproduce_the_levels_whatever_the_order_of_the_file(levels, random):
    ids = [f"c{i}" for i in range(len(levels))]
    shuffled = list(range(len(levels)))
    random.shuffle(shuffled)
    table = pd.DataFrame({"customer_id": [ids[i] for i in shuffled], "g": [levels[i] for i in shuffled]})
    out = attach_covariates(_data(tuple(ids)), table)
    design = out.covariates
    reference = design.references["g"]
    counts = pd.Series(levels).value_counts()
    assert counts[reference] == counts.max()  # the most frequent level is the reference
    matrix = out.covariate_matrix()
    assert matrix.shape == (len(levels), len(set(levels)) - 1)
    decoded = [next((name.split("=", 1)[1] for name, bit in zip(design.encoded_columns, row) if bit), reference)
               for row in matrix]
    assert decoded == levels
