"""The settings file clv.toml: read and checked in Python (clv.settings), the defaults of every command (CLI)."""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import shutil
import string
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from typer.testing import CliRunner

from clv.cli.main import app
from clv.data import Columns, LoadPolicy
from clv.errors import DataError
from clv.settings import COLUMN_KEYS, DEFAULT_SETTINGS_FILE, Settings, read_settings
from clv.units import TIME_UNITS

runner = CliRunner()
DATA = Path(__file__).parent / "data"

FULL = """\
time_unit = "month"
horizon = 12
discount_rate = 0.08
margin = 0.3
cac = 25

[columns]
customer_id = "Client"
date = "Day"
amount = "Total"
extra = ["Country"]

[load]
duplicates = "keep"
cancel_prefix = "none"
max_amount = 1e9

[load.exchange_rates]
EUR = 1
USD = 0.92

[commands.score]
horizon = 24
intervals = "none"

[commands.kpis]
time_unit = "quarter"
"""


def write(folder: Path, text: str, name: str = DEFAULT_SETTINGS_FILE) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- Python: read and check ------------------------------------------------------------------------------------

def test_a_full_file_is_read_and_checked(tmp_path):
    settings = read_settings(write(tmp_path, FULL))
    assert settings.path == str(tmp_path / DEFAULT_SETTINGS_FILE)
    assert (settings.time_unit, settings.horizon, settings.discount_rate, settings.margin, settings.cac) == (
        "month", 12.0, 0.08, 0.3, 25.0)
    assert settings.column_mapping() == Columns(customer_id="Client", date="Day", amount="Total", extra=("Country",))
    assert settings.load_policy() == LoadPolicy(duplicates="keep", cancel_prefix=None, max_amount=1e9,
                                                exchange_rates={"EUR": 1.0, "USD": 0.92})
    assert settings.given == ("time_unit", "horizon", "discount_rate", "margin", "cac", "columns", "load",
                              "commands.score", "commands.kpis")


def test_a_command_section_wins_and_calendar_reports_keep_their_unit(tmp_path):
    settings = read_settings(write(tmp_path, FULL))
    assert settings.for_command("score") == {"time_unit": "month", "horizon": 24.0, "discount_rate": 0.08,
                                             "margin": 0.3, "cac": 25.0, "intervals": "none"}
    assert settings.for_command("nps")["horizon"] == 12.0 and "time_unit" not in settings.for_command("nps")
    assert settings.for_command("kpis")["time_unit"] == "quarter"  # its own section sets it
    assert settings.for_command("summarize")["time_unit"] == "month"


def test_no_file_in_the_working_folder_is_no_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_settings() == Settings() and read_settings().path is None and read_settings().given == ()
    write(tmp_path, 'time_unit = "day"\n')
    assert read_settings() == Settings(path=DEFAULT_SETTINGS_FILE, time_unit="day")


@pytest.mark.parametrize(("text", "key", "suggestion"), [
    ('time_unt = "week"\n', "'time_unt'", "'time_unit'"),
    ('discount = 0.1\n', "'discount'", "'discount_rate'"),
    ('[columns]\ncustomer = "Client"\n', "'columns.customer'", "'customer_id'"),
    ('[load]\nduplicate = "keep"\n', "'load.duplicate'", "'duplicates'"),
    ('[colums]\ncustomer_id = "Client"\n', "'colums'", "'columns'"),
])
def test_an_unknown_key_is_refused_with_the_closest_one(tmp_path, text, key, suggestion):
    with pytest.raises(DataError) as caught:
        read_settings(write(tmp_path, text))
    message = str(caught.value)
    assert str(tmp_path / DEFAULT_SETTINGS_FILE) in message and key in message
    assert f"did you mean {suggestion}?" in message and "Fix:" in message


def test_a_column_field_at_the_top_level_is_sent_to_its_section(tmp_path):
    with pytest.raises(DataError, match=r"'customer_id' is not a setting\. Fix: move it into the \[columns\] section"):
        read_settings(write(tmp_path, 'customer_id = "Client"\n'))


@pytest.mark.parametrize(("text", "shown"), [
    ('time_unit = "weak"\n', "'time_unit' = \"weak\" is not a time unit (did you mean 'week'?)"),
    ('horizon = -52\n', "'horizon' = -52 is not a positive duration"),
    ('horizon = nan\n', "'horizon' = nan"),
    ('discount_rate = 10\n', "'discount_rate' = 10 is not an annual rate"),
    ('margin = 30\n', "'margin' = 30 is not a fraction of revenue"),
    ('cac = -5\n', "'cac' = -5 is not an acquisition cost"),
    ('[columns]\ncustomer_id = 3\n', "'columns.customer_id' = 3 is not a column name"),
    ('[columns]\ntimestamp = "When"\ndate = "Day"\n', "'columns.date' = \"Day\" is given with 'columns.timestamp'"),
    ('[columns]\nextra = "Country"\n', "'columns.extra' = \"Country\" is not a list of column names"),
    ('[load]\nduplicates = "kep"\n', "'load.duplicates' = \"kep\" is not one of ('auto', 'drop', 'keep')"),
    ('[load]\ntimezone = "Mars/Olympus"\n', "'load.timezone' = \"Mars/Olympus\" is not a known IANA time zone"),
    ('[load]\nmax_amount = "big"\n', "'load.max_amount' = \"big\" is not a number"),
    ('[load]\nthousands = "."\n', "'load.thousands' = \".\" is also the decimal mark"),
    ('[load.exchange_rates]\nUSD = 0\n', "'load.exchange_rates'"),
    ('[commands.score]\nhorizon = 0\n', "'commands.score.horizon' = 0 is not a positive duration"),
    ('[commands.score]\ndiscount-rate = 0.1\n', "e.g. 'discount_rate'"),
    ('commands = 3\n', "'commands' = 3 is not a section"),
])
def test_a_bad_value_names_the_file_key_value_and_fix(tmp_path, text, shown):
    with pytest.raises(DataError) as caught:
        read_settings(write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"settings file {str(tmp_path / DEFAULT_SETTINGS_FILE)!r}: ")
    assert shown in message and "Fix: " in message


def test_decimal_and_thousands_are_checked_together(tmp_path):
    settings = read_settings(write(tmp_path, '[load]\ndecimal = ","\nthousands = "."\n'))
    assert settings.load_policy().thousands == "."


def test_bad_toml_names_the_file_and_the_line(tmp_path):
    with pytest.raises(DataError, match=r"settings file '.*clv\.toml' is not valid TOML: .*line 2.*Fix: "):
        read_settings(write(tmp_path, 'margin = 0.3\ntime_unit = week\n'))


def test_a_named_file_must_exist(tmp_path):
    with pytest.raises(DataError, match=r"settings file '.*other\.toml' does not exist\. Fix: "):
        read_settings(tmp_path / "other.toml")
    with pytest.raises(DataError, match="is a folder, not a file"):
        read_settings(tmp_path)


def test_settings_made_in_python_are_checked_too():
    with pytest.raises(DataError, match=r"^Settings: 'margin' = 2"):
        Settings(margin=2)


# --- property: any valid settings round-trip through TOML ------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(lambda s: s.strip())
_NAME = st.text(string.ascii_letters + "_", min_size=1, max_size=10)
_COLUMN_FIELDS = [k for k in COLUMN_KEYS if k not in ("extra", "timestamp", "date", "cost", "margin_rate",
                                                      "unit_price")]


@st.composite
def valid_settings(draw) -> Settings:
    columns = draw(st.dictionaries(st.sampled_from(_COLUMN_FIELDS), _TEXT, max_size=4))
    time_field = draw(st.sampled_from([None, "timestamp", "date"]))
    if time_field:
        columns[time_field] = draw(_TEXT)
    if draw(st.booleans()):
        columns["extra"] = tuple(draw(st.lists(_TEXT.filter(lambda c: c not in ("amount", "cost")), max_size=2)))
    load = draw(st.fixed_dictionaries({}, optional={
        "duplicates": st.sampled_from(["auto", "drop", "keep"]),
        "cancel_prefix": st.one_of(st.none(), st.sampled_from(["C", "X-"])),
        "date_format": st.one_of(st.none(), st.sampled_from(["%Y-%m-%d", "%d/%m/%Y %H:%M", "epoch_s"])),
        "max_amount": st.floats(1.0, 1e15),
        "exchange_rates": st.dictionaries(st.sampled_from(["EUR", "USD", "GBP"]), st.floats(0.01, 100), min_size=1),
    }))
    scalar = st.one_of(_TEXT, st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.booleans())
    commands = draw(st.dictionaries(_NAME.map(str.lower), st.dictionaries(
        _NAME.map(str.lower).filter(lambda k: k not in ("time_unit", "horizon", "discount_rate", "margin", "cac")),
        st.one_of(scalar, st.lists(scalar, max_size=3).map(tuple)), max_size=3), max_size=2))
    return Settings(
        time_unit=draw(st.one_of(st.none(), st.sampled_from(TIME_UNITS))),
        horizon=draw(st.one_of(st.none(), st.floats(1e-3, 1e6), st.just(math.inf))),
        discount_rate=draw(st.one_of(st.none(), st.floats(0, 1))),
        margin=draw(st.one_of(st.none(), st.floats(1e-6, 1))),
        cac=draw(st.one_of(st.none(), st.floats(0, 1e6), _TEXT)),
        columns=columns, load=load, commands=commands,
    )


@hypothesis_settings(max_examples=150, deadline=None)
@given(valid_settings())
def test_any_valid_settings_round_trip_through_toml(settings):
    text = settings.to_toml()
    tomllib.loads(text)  # valid TOML
    assert Settings.from_toml(text) == settings


# --- the command line ------------------------------------------------------------------------------------------

ORDERS = """\
Client,Other,Day,Total,Country
a,x1,2020-01-01,10,UK
a,x1,2020-02-01,20,UK
b,x2,2020-01-15,5,FR
c,x3,2020-03-01,7,UK
c,x3,2020-03-20,9,UK
c,x3,2020-03-20,9,UK
"""
COLUMNS = '[columns]\ncustomer_id = "Client"\ndate = "Day"\namount = "Total"\n'
FLAGS = ["--col", "customer_id=Client", "--col", "date=Day", "--col", "amount=Total"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "orders.csv").write_text(ORDERS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def clv(*args: str):
    return runner.invoke(app, list(args))


def frame(result) -> pd.DataFrame:
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("note: settings from")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_summarize_takes_time_unit_and_columns_from_the_file(folder):
    write(folder, 'time_unit = "month"\n' + COLUMNS)
    from_file = clv("summarize", "orders.csv", "-f", "csv")
    by_flags = clv("summarize", "orders.csv", "-f", "csv", "--no-config", "--time-unit", "month", *FLAGS)
    pd.testing.assert_frame_equal(frame(from_file), frame(by_flags))
    assert "note: settings from clv.toml (time_unit, columns)" in from_file.stderr
    assert "time unit month" in from_file.stderr
    assert "settings from" not in by_flags.stderr


def test_a_flag_wins_over_the_file(folder):
    write(folder, 'time_unit = "month"\n' + COLUMNS)
    result = clv("summarize", "orders.csv", "-f", "csv", "--time-unit", "day")
    assert frame(result).set_index("customer_id").loc["a", "recency"] == 31.0
    assert "settings from clv.toml (columns)" in result.stderr  # time_unit came from the flag


def test_no_config_ignores_the_file(folder):
    write(folder, 'time_unit = "month"\n' + COLUMNS)
    message = one_error_line(clv("summarize", "orders.csv", "--no-config"))
    assert "column 'customer_id' (customer id) not found" in message


def test_config_names_another_file(folder):
    write(folder, 'time_unit = "weak"\n')  # a broken ./clv.toml is not read when another file is named
    other = write(folder, 'time_unit = "day"\n' + COLUMNS, "other.toml")
    result = clv("summarize", "orders.csv", "-f", "csv", "--config", str(other))
    assert frame(result).set_index("customer_id").loc["a", "recency"] == 31.0
    assert f"settings from {other} (time_unit, columns)" in result.stderr


def test_repeatable_flags_merge_with_the_file_and_win_for_the_same_key(folder):
    write(folder, '[columns]\ncustomer_id = "Client"\ndate = "Day"\n')
    merged = frame(clv("summarize", "orders.csv", "-f", "csv", "--col", "amount=Total"))
    assert merged["revenue"].sum() == 60.0  # the file's id and date, the flag's amount
    renamed = frame(clv("summarize", "orders.csv", "-f", "csv", "--col", "amount=Total", "--col", "customer_id=Other"))
    assert set(renamed["customer_id"]) == {"x1", "x2", "x3"}


def test_the_load_section_is_the_load_policy(folder):
    write(folder, COLUMNS + '[load]\nduplicates = "keep"\n')
    kept = clv("load", "orders.csv", "-f", "json")
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["accepted_purchase_lines"] == 6  # the repeated line of c is kept
    dropped = clv("load", "orders.csv", "-f", "json", "--policy", "duplicates=drop")
    assert json.loads(dropped.stdout)["accepted_purchase_lines"] == 5
    assert "settings from clv.toml (columns, load)" in kept.stderr


def test_a_space_as_thousands_separator_reaches_the_load(folder):
    (folder / "spaced.csv").write_text('Client,Day,Total\na,2020-01-01,"1 000.5"\na,2020-02-01,20\n')
    write(folder, COLUMNS + '[load]\nthousands = " "\n')
    result = clv("load", "spaced.csv", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted_purchase_lines"] == 2


def test_a_command_section_sets_any_option_by_its_name(folder):
    write(folder, COLUMNS + '[commands.summarize]\nformat = "json"\ntime_unit = "day"\n')
    result = clv("summarize", "orders.csv")
    assert result.exit_code == 0, result.output
    assert {row["customer_id"]: row["recency"] for row in json.loads(result.stdout)}["a"] == 31.0
    assert "settings from clv.toml (columns, commands.summarize)" in result.stderr


@pytest.fixture
def fitted(folder):
    summary = folder / "summary.csv"
    table = pd.read_csv(DATA / "cdnow_customers_summary.csv").head(600)
    table["monetary_value"] = (20.0 + table["ID"] % 7) * (table["frequency"] > 0)
    table.to_csv(summary, index=False)
    fit = clv("fit", str(summary), "--model", "bgnbd", "--time-unit", "week", "--save", "model.json",
              "--no-config", "-f", "json")
    assert fit.exit_code == 0, fit.output
    return summary


def test_score_takes_horizon_discount_rate_and_margin_from_the_file(fitted, folder):
    write(folder, "horizon = 52\ndiscount_rate = 0.15\nmargin = 0.3\n[commands.score]\nintervals = \"none\"\n")
    from_file = frame(clv("score", str(fitted), "--model", "model.json", "-f", "csv"))
    by_flags = frame(clv("score", str(fitted), "--model", "model.json", "-f", "csv", "--no-config", "--horizon",
                         "52", "--discount-rate", "0.15", "--margin", "0.3", "--intervals", "none"))
    pd.testing.assert_frame_equal(from_file, by_flags)
    built_in = frame(clv("score", str(fitted), "--model", "model.json", "-f", "csv", "--no-config", "--horizon", "52",
                         "--intervals", "none"))
    assert (from_file["clv"] < built_in["clv"]).any()  # margin 0.3 and 15% a year, not 1.0 and 10%
    longer = frame(clv("score", str(fitted), "--model", "model.json", "-f", "csv", "--horizon", "104"))
    assert (longer["clv"] > from_file["clv"]).any()


def test_a_bad_value_of_a_command_section_names_the_file_and_key(fitted, folder):
    write(folder, '[commands.score]\ndraws = "many"\n')
    message = one_error_line(clv("score", str(fitted), "--model", "model.json", "--horizon", "52"))
    assert "settings file 'clv.toml': 'commands.score.draws' = 'many' is not a value of --draws" in message
    assert "Fix: " in message


@pytest.mark.parametrize(("text", "expected"), [
    ('time_unt = "week"\n', "'time_unt' is not a setting (did you mean 'time_unit'?)"),
    ('[commands.scor]\nhorizon = 3\n', "'commands.scor' is not a clv command (did you mean 'score'?)"),
    ('[commands.score]\nhorizn = 3\n', "'commands.score.horizn' is not an option of clv score (did you mean 'horizon'?)"),
    ('[commands.score]\nzzz = 3\n', "'observation_end'"),  # the list of keys stays in the file's words
    ('time_unit = week\n', "is not valid TOML"),
])
def test_a_bad_file_fails_in_one_line_naming_file_and_key(folder, text, expected):
    write(folder, text)
    message = one_error_line(clv("summarize", "orders.csv"))
    assert message.startswith("error: settings file 'clv.toml'") and expected in message and "Fix: " in message


def test_a_missing_config_and_contradicting_flags_fail_in_one_line(folder):
    assert "settings file 'nowhere.toml' does not exist" in one_error_line(
        clv("summarize", "orders.csv", "--config", "nowhere.toml"))
    assert "contradict" in one_error_line(clv("summarize", "orders.csv", "--config", "x.toml", "--no-config"))


def test_help_and_version_do_not_read_the_file(folder):
    write(folder, 'time_unt = "week"\n')
    assert clv("summarize", "--help").exit_code == 0
    assert clv("--version").exit_code == 0


def test_calendar_reports_keep_their_own_unit(folder):
    write(folder, 'time_unit = "day"\nmargin = 0.5\n' + COLUMNS)
    result = clv("kpis", "orders.csv", "-f", "json", "--lifespan", "2")
    assert result.exit_code == 0, result.output  # kpis refuses 'day': the file's unit is not its
    assert "settings from clv.toml (margin, columns)" in result.stderr


# --- the documented files -------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_documented_settings_files_are_valid():
    example = blocks((ROOT / "docs" / "cli.md").read_text(encoding="utf-8").split("## Settings file (clv.toml)")[1],
                     "toml")
    settings = Settings.from_toml(example[0])
    assert settings.for_command("score")["horizon"] == 104.0 and settings.load_policy().exchange_rates["EUR"] == 0.85
    assert "time_unit" not in settings.for_command("nps") and settings.for_command("kpis")["time_unit"] == "quarter"


README_SECTION = "### Say it once: `clv.toml`"


@pytest.mark.skipif(not (DATA / "online_retail.csv.gz").exists(), reason="tests/data/online_retail.csv.gz is missing")
def test_the_readme_settings_recipe_runs_as_written_and_matches_the_flags(tmp_path, monkeypatch):
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(README_SECTION, 1)[1]
    (toml_text,), commands = blocks(section, "toml")[:1], blocks(section, "bash")[0]
    shutil.copy(DATA / "online_retail.csv.gz", tmp_path / "orders.csv.gz")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, toml_text)
    for line in commands.splitlines():
        args = shlex.split(line, comments=True)
        if args:
            assert args[0] == "clv"
            result = clv(*args[1:])
            assert result.exit_code == 0, f"{line} failed:\n{result.output}"
            assert "note: settings from clv.toml" in result.stderr
    by_flags = [
        ["summarize", "orders.parquet", "--time-unit", "week", "--extra", "Country", "--output", "s.parquet"],
        ["fit", "s.parquet", "--model", "bgnbd", "--time-unit", "week", "--save", "b.json"],
        ["fit", "s.parquet", "--model", "gammagamma", "--time-unit", "week", "--save", "g.json"],
        ["score", "s.parquet", "--model", "b.json", "--spend-model", "g.json", "--horizon", "52", "--margin", "0.3",
         "--output", "flags.csv"],
    ]
    for args in by_flags:
        assert clv(*args, "--no-config").exit_code == 0, args
    pd.testing.assert_frame_equal(pd.read_csv("scores.csv"), pd.read_csv("flags.csv"))


def test_an_error_about_a_flag_the_file_set_says_so(folder):
    write(folder, COLUMNS)
    assert clv("summarize", "orders.csv", "--time-unit", "month", "--output", "monthly.parquet").exit_code == 0
    write(folder, 'time_unit = "week"\n')
    message = one_error_line(clv("fit", "monthly.parquet", "--model", "bgnbd"))
    assert "--time-unit is week" in message
    assert message.endswith("(--time-unit week is from clv.toml ('time_unit'): a flag or --no-config overrides it.)")
