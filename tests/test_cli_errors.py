"""Every command fails politely: a corpus of bad-input CLI cases.

Each case runs one command on a bad file, path or option and must exit 2 with
exactly one non-empty line on stderr (``error: ...``) and no traceback anywhere.
Cases use placeholders ({orders}, {folder}...) filled with the fixture files.
Also here: a bug exits 1 with a crash log, and the Python -> CLI wording table.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.cli import failures
from clv.cli.main import app
from clv.cli.wording import WORDING, to_cli

DATA = Path(__file__).parent / "data"
runner = CliRunner()

ORDERS = """customer_id,order_ts,amount,order_id,product_id,channel
a,2024-01-03 10:00,10.0,1,p1,email
a,2024-02-10 10:00,20.0,2,p2,email
a,2024-04-15 10:00,15.0,3,p1,email
b,2024-01-20 12:00,7.0,4,p2,search
b,2024-03-11 12:00,9.0,5,p3,search
c,2024-02-02 09:00,30.0,6,p1,search
c,2024-05-05 09:00,12.0,7,p3,search
d,2024-03-03 08:00,5.0,8,p2,email
e,2024-04-04 08:00,8.0,9,p1,store
e,2024-06-20 08:00,11.0,10,p2,store
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Good inputs to pair with a bad option, and bad inputs of every kind."""
    root = tmp_path_factory.mktemp("bad_inputs")
    paths: dict[str, Path] = {"root": root}

    def put(name: str, content: bytes | str) -> Path:
        path = root / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        paths[name.replace(".", "_").replace("-", "_")] = path
        return path

    paths["orders"] = put("orders.csv", ORDERS)
    paths["custom"] = put("custom.csv", ORDERS.replace("customer_id,order_ts,amount", "Client,When,Total"))
    paths["summary"] = root / "summary.csv"
    shutil.copy(DATA / "cdnow_customers_summary.csv", paths["summary"])
    paths["survey"] = root / "survey.csv"
    shutil.copy(DATA / "nps_sample.csv", paths["survey"])
    paths["spend"] = put("spend.csv", "channel,month,spend\nemail,2024-01,100\nsearch,2024-01,300\nstore,2024-04,50\n")
    paths["markup"] = put("markup.csv", ORDERS.replace("a,2024", "[/],2024").replace("b,2024", "[link=http://x]b,2024"))
    paths["empty"] = put("empty.csv", b"")
    paths["empty_parquet"] = put("empty.parquet", b"")
    rng = np.random.default_rng(7)
    garbage = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    paths["garbage"] = put("garbage.csv", garbage)
    paths["garbage_parquet"] = put("garbage.parquet", garbage)
    paths["garbage_json"] = put("garbage.json", garbage)
    paths["not_json"] = put("model.json", "{not json")
    paths["wrong_model"] = put("wrong_model.json", json.dumps({"model": "magic", "params": {}}))
    paths["not_gzip"] = put("not_gzip.csv.gz", ORDERS)
    paths["zero_gz"] = put("zero.csv.gz", b"")
    whole = gzip.compress((ORDERS * 200).encode())
    paths["truncated_gz"] = put("truncated.csv.gz", whole[: len(whole) // 2])
    paths["latin1"] = put("latin1.csv", ORDERS.replace("a,2024-01-03", "caf\xe9,2024-01-03").encode("latin-1"))
    paths["unknown_ext"] = put("orders.xyz", ORDERS)
    paths["parquet"] = root / "orders.parquet"
    pd.read_csv(paths["orders"]).to_parquet(paths["parquet"])
    paths["fake_xlsx"] = put("orders.xlsx", garbage)
    paths["folder"] = root / "folder"
    paths["folder"].mkdir()
    paths["missing"] = root / "missing.csv"
    paths["no_dir"] = root / "no_such_folder" / "out.csv"
    paths["model"] = root / "bgnbd.json"
    fitted = runner.invoke(app, ["fit", str(paths["summary"]), "--model", "bgnbd", "--time-unit", "week",
                                 "--save", str(paths["model"])])
    assert fitted.exit_code == 0, fitted.output
    return {key: str(value) for key, value in paths.items()}


def case(*args: str, marks=()):
    return pytest.param(list(args), marks=marks, id=" ".join(args)[:90])


LOADER = "loader: "
CASES = [
    # the app itself
    case("nosuchcommand"),
    case("lod", "{orders}"),
    case("--nosuchoption"),
    case("--version", "extra"),
    # load: files and paths
    case("load", "{missing}"),
    case("load", "{folder}"),
    case("load", "{empty}"),
    case("load", "{empty_parquet}"),
    case("load", "{garbage}"),
    case("load", "{garbage_parquet}"),
    case("load", "{not_gzip}"),
    case("load", "{zero_gz}"),
    case("load", "{truncated_gz}"),
    case("load", "{latin1}"),
    case("load", "{unknown_ext}"),
    case("load", "{fake_xlsx}"),
    case("load", "{orders}", "--table", "orders"),
    case("load", "{latin1}", "--encoding", "no-such-encoding"),
    case("load", "{parquet}", "--encoding", "cp1252"),
    case("load", "{orders}", "--sheet", "2"),
    # load: options
    case("load", "{orders}", "--col", "customer_id"),
    case("load", "{orders}", "--col", "=x"),
    case("load", "{orders}", "--col", "client=customer_id"),
    case("load", "{orders}", "--col", "customer_id=Clinet"),
    case("load", "{custom}"),
    case("load", "{custom}", "--col", "customer_id=Client", "--col", "timestamp=When", "--col", "date=When"),
    case("load", "{orders}", "--col", "margin_rate=2"),
    case("load", "{orders}", "--col", "unit_price=amount"),
    case("load", "{orders}", "--col", "customer_id=[/]"),
    case("load", "{orders}", "--extra", "amount"),
    case("load", "{orders}", "--extra", "NoSuchColumn"),
    case("load", "{orders}", "--policy", "refunds"),
    case("load", "{orders}", "--policy", "refunds=maybe"),
    case("load", "{orders}", "--policy", "duplicates=sometimes"),
    case("load", "{orders}", "--policy", "colour=blue"),
    case("load", "{orders}", "--policy", "cancel_prefix="),
    case("load", "{orders}", "--policy", "zero_amounts=[/]"),
    case("load", "{orders}", "--policy", "timezone=Mars/Olympus"),
    case("load", "{orders}", "--rate", "USD=abc"),
    case("load", "{orders}", "--rate", "USD=-1"),
    case("load", "{orders}", "--rate", "USD"),
    case("load", "{orders}", "--date-format", "%s"),
    case("load", "{orders}", "--observation-end", "notadate"),
    case("load", "{orders}", "--observation-end", "2024-13-45"),
    case("load", "{orders}", "--names", "a,b"),
    case("load", "{orders}", "--format", "xml"),
    # load: outputs
    case("load", "{orders}", "--rejects", "{orders}"),
    case("load", "{orders}", "--orders", "{orders}"),
    case("load", "{orders}", "--output", "{orders}"),
    case("load", "{orders}", "--rejects", "{no_dir}"),
    case("load", "{orders}", "--rejects", "{folder}"),
    case("load", "{orders}", "--rejects", "{root}/rejects.xlsx"),
    case("load", "{orders}", "--orders", "{root}/orders_out"),
    case("load", "{orders}", "--orders", "{root}/same.csv", "--rejects", "{root}/same.csv"),
    case("load", "{orders}", "--output", "{root}/report.txt"),
    case("load", "{orders}", "--orders", "{orders}/x.parquet"),
    # summarize
    case("summarize", "{missing}"),
    case("summarize", "{garbage}"),
    case("summarize", "{orders}", "--time-unit", "fortnight"),
    case("summarize", "{orders}", "--merge", "hour"),
    case("summarize", "{orders}", "--calibration-end", "yesterday"),
    case("summarize", "{orders}", "--calibration-end", "2030-01-01"),
    case("summarize", "{orders}", "--output", "{root}/summary.xlsx"),
    case("summarize", "{orders}", "--output", "{no_dir}"),
    case("summarize", "{orders}", "--output", "{orders}"),
    case("summarize", "{markup}", "--col", "customer_id=[link=x]"),
    # kpis
    case("kpis", "{orders}", "--margin", "abc"),
    case("kpis", "{orders}", "--margin", "5"),
    case("kpis", "{orders}", "--margin", "0.3", "--churn", "2"),
    case("kpis", "{orders}", "--margin", "0.3", "--lifespan", "-1"),
    case("kpis", "{orders}", "--margin", "0.3", "--period", "decade"),
    case("kpis", "{orders}", "--margin", "0.3", "--lifespan", "2", "--cac", "{missing}"),
    case("kpis", "{orders}", "--margin", "0.3", "--lifespan", "2", "--cac", "-5"),
    case("kpis", "{orders}", "--margin", "0.3", "--lifespan", "2", "--segment-by", "Country"),
    case("kpis", "{orders}", "--margin", "0.3", "--drivers", "fortnight"),
    case("kpis", "{orders}"),
    case("kpis", "{orders}", "--margin", "0.3", "--lifespan", "2", "--cac", "{spend}", "--output", "{spend}"),
    # fit
    case("fit", "{missing}", "--model", "bgnbd"),
    case("fit", "{summary}"),
    case("fit", "{summary}", "--model", "magic"),
    case("fit", "{garbage}", "--model", "bgnbd"),
    case("fit", "{garbage_parquet}", "--model", "bgnbd"),
    case("fit", "{empty}", "--model", "bgnbd"),
    case("fit", "{unknown_ext}", "--model", "bgnbd"),
    case("fit", "{folder}", "--model", "bgnbd"),
    case("fit", "{summary}", "--model", "bgnbd", "--frequency-col", "freq"),
    case("fit", "{summary}", "--model", "bgnbd", "--time-unit", "fortnight"),
    case("fit", "{summary}", "--model", "bgnbd", "--save", "{root}/model.txt"),
    case("fit", "{summary}", "--model", "bgnbd", "--save", "{summary}"),
    case("fit", "{summary}", "--model", "bgnbd", "--save", "{no_dir}.json"),
    case("fit", "{orders}", "--model", "bgnbd", "--from-orders", "--date-col", "nope"),
    # score
    case("score", "{summary}", "--model", "{missing}", "--horizon", "52"),
    case("score", "{summary}", "--model", "{not_json}", "--horizon", "52"),
    case("score", "{summary}", "--model", "{garbage_json}", "--horizon", "52"),
    case("score", "{summary}", "--model", "{wrong_model}", "--horizon", "52"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "abc"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "-1"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--intervals", "2"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--intervals", "x,y"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--draws", "1"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--margin", "-1"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--discount-rate", "-1"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--interval-method", "magic"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--spend-model", "{model}"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--output", "{summary}"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--output", "{root}/scores.xlsx"),
    case("score", "{summary}", "--model", "{model}", "--horizon", "52", "--output", "{model}"),
    # backtest
    case("backtest", "{orders}", "--calibration-end", "notadate"),
    case("backtest", "{orders}", "--calibration-fraction", "2"),
    case("backtest", "{orders}", "--calibration-end", "2030-01-01"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--models", "magic"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--baselines", "oracle"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--intervals", "abc"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--margin", "-2"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--charts", "{orders}"),
    case("backtest", "{orders}", "--calibration-end", "2024-03-01", "--output", "{root}/bt.xlsx"),
    # segments
    case("segments", "{orders}", "--unit", "fortnight"),
    case("segments", "{orders}", "--export", "win_back"),
    case("segments", "{orders}", "--export", "win_back", "--output", "{root}/wb.json"),
    case("segments", "{orders}", "--value-cuts", "a,b"),
    case("segments", "{orders}", "--assume", "win_back=lots"),
    case("segments", "{orders}", "--assume", "bribe=0.1"),
    case("segments", "{orders}", "--window-days", "x"),
    case("segments", "{orders}", "--customers", "{root}/all.txt"),
    case("segments", "{orders}", "--customers", "{orders}"),
    # acquisition, cohorts, whatif
    case("acquisition", "{orders}", "--spend", "{missing}"),
    case("acquisition", "{orders}", "--spend", "{garbage}"),
    case("acquisition", "{orders}", "--spend", "{spend}", "--horizon-months", "x"),
    case("acquisition", "{orders}", "--spend", "{spend}", "--model", "{not_json}"),
    case("acquisition", "{orders}", "--spend", "{spend}", "--view", "pie"),
    case("acquisition", "{orders}", "--spend", "{spend}", "--output", "{spend}"),
    case("cohorts", "{orders}", "--view", "pie"),
    case("cohorts", "{orders}", "--model", "{missing}"),
    case("cohorts", "{orders}", "--output", "{root}/cohorts.html"),
    case("whatif", "{orders}", "--aov", "lots"),
    case("whatif", "{orders}", "--aov", "5"),
    case("whatif", "{orders}", "--segment-col", "channel"),
    case("whatif", "{orders}", "--margin-rate", "x"),
    case("whatif", "{orders}", "--view", "pie"),
    # crosssell, recommend, nps
    case("crosssell", "{orders}", "--basket", "trolley"),
    case("crosssell", "{orders}", "--min-support", "2"),
    case("crosssell", "{orders}", "--min-count", "x"),
    case("crosssell", "{orders}", "--output", "{no_dir}"),
    case("recommend", "{orders}", "--k", "0"),
    case("recommend", "{orders}", "--weight", "magic"),
    case("recommend", "{orders}", "--customer", "zz"),
    case("nps", "{missing}"),
    case("nps", "{survey}", "--scores", "{missing}"),
    case("nps", "{survey}", "--time-unit", "fortnight"),
    case("nps", "{survey}", "--col", "score=Rating"),
    case("nps", "{garbage}"),
    case("nps", "{survey}", "--rejects", "{survey}"),
    case("nps", "{survey}", "--series", "{root}/series.xlsx"),
    # report and demo
    case("report", "{orders}", "--output", "{root}/report.csv"),
    case("report", "{orders}", "--output", "{orders}/sub/report.html"),
    case("report", "{orders}", "--spend", "{missing}"),
    case("report", "{orders}", "--unit", "fortnight", "--output", "{root}/r.html"),
    case("report", "{orders}", "--margin", "3", "--output", "{root}/r.html"),
    case("report", "{orders}", "--horizon", "x"),
    case("report", "{missing}"),
    case("demo", "--customers", "x"),
    case("demo", "--dir", "{orders}"),
    # the service
    case("serve", "--workspace", "{folder}"),
    case("serve", "--port", "x"),
    case("serve", "refresh", "--workspace", "{missing}"),
    case("serve", "refresh", "--url", "http://127.0.0.1:9"),
    case("serve", "token", "create", "--role", "viewer", "--workspace", "{folder}"),
]


def fill(args: list[str], files: dict[str, str]) -> list[str]:
    return [arg.format(**files) for arg in args]


@pytest.mark.parametrize("args", CASES)
def test_bad_input_fails_politely(args, files):
    result = runner.invoke(app, fill(args, files))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


FILE_MESSAGES = [
    ("{latin1}", ("--encoding cp1252", "line 2")),
    ("{truncated_gz}", ("truncated.csv.gz", "gzip")),
    ("{not_gzip}", ("not_gzip.csv.gz",)),
    ("{zero_gz}", ("zero.csv.gz", "empty")),
    ("{empty}", ("empty.csv", "empty")),
    ("{garbage_parquet}", ("garbage.parquet", "Parquet")),
    ("{fake_xlsx}", ("orders.xlsx",)),
    ("{unknown_ext}", ("orders.xyz", "--delimiter")),
    ("{missing}", ("missing.csv", "does not exist")),
]


@pytest.mark.parametrize(("source", "expected"), FILE_MESSAGES, ids=[f[0] for f in FILE_MESSAGES])
def test_file_messages_name_the_file_and_the_fix(source, expected, files):
    result = runner.invoke(app, ["load", source.format(**files)])
    assert result.exit_code == 2
    for words in expected:
        assert words in result.stderr, result.stderr


def test_the_encoding_the_message_names_loads_the_file(files):
    result = runner.invoke(app, ["load", files["latin1"], "--encoding", "cp1252", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted_purchase_lines"] == 10


def test_corpus_covers_every_command_and_has_100_cases():
    assert len(CASES) >= 100
    listed = set(re.findall(r"^│ (\w+) ", runner.invoke(app, ["--help"], env={"COLUMNS": "120"}).stdout, re.MULTILINE))
    covered = {param.values[0][0] for param in CASES}
    assert listed and listed <= covered, listed - covered


def test_inputs_are_untouched_by_refused_outputs(files):
    before = Path(files["orders"]).read_bytes()
    assert runner.invoke(app, ["load", files["orders"], "--rejects", files["orders"]]).exit_code == 2
    assert runner.invoke(app, ["load", files["orders"], "--rejects", str(Path(files["root"]) / "." / "orders.csv")]).exit_code == 2
    assert Path(files["orders"]).read_bytes() == before


def test_markup_in_messages_is_shown_literally(files):
    result = runner.invoke(app, ["load", files["orders"], "--col", "customer_id=[bold]x[/bold]"])
    assert result.exit_code == 2
    assert "[bold]x[/bold]" in result.stderr


def test_messages_speak_cli(files):
    result = runner.invoke(app, ["load", files["custom"]])
    assert result.exit_code == 2
    assert "--col customer_id=" in result.stderr and "Columns(" not in result.stderr
    result = runner.invoke(app, ["kpis", files["orders"]])
    assert "--margin 0.3" in result.stderr and "margin=0.3" not in result.stderr
    result = runner.invoke(app, ["load", files["orders"], "--policy", "refunds=maybe"])
    assert "--policy refunds=net" in result.stderr and "LoadPolicy(" not in result.stderr


# --------------------------------------------------------------------------- bugs: exit 1 and a crash log


def test_a_bug_exits_1_with_a_crash_log(files, monkeypatch, tmp_path):
    import clv.summary

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(clv.summary, "summarize", broken)  # the command imports it when it runs
    monkeypatch.setattr(failures.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(failures.tempfile, "tempdir", str(tmp_path))
    result = runner.invoke(app, ["summarize", files["orders"]])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "bug in clv" in lines[0] and "ZeroDivisionError: a bug" in lines[0]
    log = Path(re.search(r"details are in (\S+\.log)", lines[0]).group(1))
    assert log.name.startswith("clv-crash-") and log.parent == tmp_path
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError: a bug" in text and "summarize" in text


def _duckdb_error(query: str) -> Exception:
    import duckdb

    try:
        duckdb.connect().execute(query)
    except duckdb.Error as exc:
        return exc
    raise AssertionError(f"{query} did not fail")


def _pandas_error(content: bytes, tmp_path) -> Exception:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    try:
        pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        return exc
    raise AssertionError("pandas read the file")


@pytest.mark.parametrize(("make", "expected"), [
    (lambda tmp: FileNotFoundError(2, "No such file or directory", "x.csv"), "'x.csv' does not exist"),
    (lambda tmp: IsADirectoryError(21, "Is a directory", "data"), "'data' is a folder, not a file"),
    (lambda tmp: NotADirectoryError(20, "Not a directory", "a.csv/b.csv"), "part of the path is a file"),
    (lambda tmp: PermissionError(13, "Permission denied", "secret.csv"), "no permission to use 'secret.csv'"),
    (lambda tmp: OSError(28, "No space left on device", "out.csv"), "the disk is full"),
    (lambda tmp: b"caf\xe9".decode("utf-8"), None),
    (lambda tmp: _duckdb_error("SELECT * FROM read_csv('/no/such/file.csv')"), "cannot read the file"),
    (lambda tmp: _duckdb_error("SELECT * FROM read_parquet('" + str(DATA / "nps_sample.csv") + "')"),
     "cannot read the file"),
    (lambda tmp: _pandas_error(b"", tmp), "cannot read the file as CSV"),
    (lambda tmp: _pandas_error(b'a,b\n"x,1\n', tmp), "cannot read the file as CSV"),
    (lambda tmp: EOFError("Compressed file ended before the end-of-stream marker was reached"), "ends in the middle"),
])
def test_user_errors_are_recognised(make, expected, tmp_path):
    try:
        exc = make(tmp_path)
    except UnicodeDecodeError as decode_error:
        exc, expected = decode_error, "is not UTF-8 text (byte 0xe9 at position 3)"
    message = failures.user_message(exc, ("orders.csv",), frozenset({"--encoding"}))
    assert message is not None and expected in message
    assert "\n" not in failures.one_line(message)


def test_other_exceptions_are_bugs():
    for exc in (ZeroDivisionError("x"), KeyError("k"), ValueError("shape < 0"), TypeError("t"), AttributeError("a")):
        assert failures.user_message(exc) is None


def test_warnings_are_one_line_notes(files, monkeypatch):
    import warnings as python_warnings

    import clv.summary

    def warns(*args, **kwargs):
        python_warnings.warn("LoadPolicy(refunds='net') is a test warning", UserWarning, stacklevel=2)
        return pd.DataFrame({"customer_id": ["a"], "frequency": [1]})

    monkeypatch.setattr(clv.summary, "summarize", warns)  # the command imports it when it runs
    result = runner.invoke(app, ["summarize", files["orders"], "--format", "csv"])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warned == ["warning: --policy refunds=net is a test warning"]



# --------------------------------------------------------------------------- the wording table, one test per entry

WORDING_CASES = {
    "LoadPolicy(date_format=...)": (
        "load", "the time column holds integers; fix: give its format, e.g. LoadPolicy(date_format='%Y%m%d').",
        "e.g. --date-format %Y%m%d."),
    "LoadPolicy(exchange_rates=...) has rate": (
        "load", "LoadPolicy(exchange_rates=...) has rate -1.0 for 'USD'; fix: give a positive number",
        "--rate USD=-1.0 is not usable; fix: give a positive number"),
    "LoadPolicy(exchange_rates=...)": (
        "load", ("no exchange rate for currencies ['USD']; fix: add them to LoadPolicy(exchange_rates=...) or use "
        "unknown_currency='reject'."), ("add them to --rate CODE=RATE (repeatable, e.g. --rate USD=0.92) or use "
        "--policy unknown_currency=reject.")),
    "LoadPolicy(cancel_prefix='') -> none": (
        "load", ("LoadPolicy(cancel_prefix='') would mark every order as cancelled; fix: pass None to turn the prefix "
        "rule off."), "fix: pass --policy cancel_prefix=none to turn the prefix rule off."),
    "LoadPolicy(timezone=...)": ("load", "unknown zone; fix: e.g. LoadPolicy(timezone='Europe/London').",
                                 "e.g. --policy timezone=Europe/London."),
    "LoadPolicy(field=value)": (
        "load", "LoadPolicy(refunds='maybe') is not one of ('net', 'reject'); fix: e.g. LoadPolicy(refunds='net').",
        "--policy refunds=maybe is not one of ('net', 'reject'); fix: e.g. --policy refunds=net."),
    "LoadPolicy(a=x, b=y)": ("load", "fix: LoadPolicy(currency_symbol='€', decimal=',', thousands='.').",
                             "fix: --policy currency_symbol='€' --policy decimal=',' --policy thousands='.'."),
    "LoadPolicy(...)": ("load", "set it in LoadPolicy(...).", "set it in --policy KEY=VALUE."),
    "unknown_currency='reject'": ("load", "or use unknown_currency='reject'.", "or use --policy unknown_currency=reject."),
    "Columns got both a=... and b=...": (
        "load", "Columns got both timestamp='When' and date='Day'; fix: pass only one of them.",
        "--col timestamp=When and --col date=Day were both given; fix: pass only one of them."),
    "Columns got unit_price=... without quantity": (
        "load", ("Columns got unit_price='Price' without quantity or amount; fix: pass quantity= (amount = quantity x "
        "unit_price) or amount=."), ("--col unit_price=Price was given without quantity or amount; fix: add "
        "--col quantity=COLUMN")),
    "Columns(has_amounts=False)": ("load", "Columns(has_amounts=False) but amount='x' is mapped",
                                   "a purchase log without amounts but"),
    "Columns(extra='x')": ("load", "Fix: pass the right name, e.g. Columns(extra='Country').",
                           "e.g. --extra Country."),
    "Columns(customer_id=...) in fit/score": ("fit", "e.g. Columns(customer_id='Client').", "e.g. --customer-col Client."),
    "Columns(date=...) in fit/score": ("score", "e.g. Columns(date='When').", "e.g. --date-col When."),
    "Columns(timestamp=...) in fit/score": ("fit", "e.g. Columns(timestamp='When').", "e.g. --date-col When."),
    "Columns(amount=...) in fit/score": ("fit", "e.g. Columns(amount='Total').", "e.g. --amount-col Total."),
    "Columns(order_id=...) in fit/score": ("score", "e.g. Columns(order_id='Invoice').", "e.g. --order-id-col Invoice."),
    "Columns(extra=...)": ("load", "Columns(extra=...) names ['amount'], which are canonical output names",
                           "--extra names ['amount']"),
    "Columns(field=value)": (
        "load", ("column 'Clinet' (customer id) not found; did you mean 'Client'? Columns found: Client. Fix: pass the "
        "right name, e.g. Columns(customer_id='Client')."), "e.g. --col customer_id=Client."),
    "Columns(field=...)": ("load", "fix: map them through their own field (e.g. Columns(channel=...)) instead.",
                           "(e.g. --col channel=COLUMN) instead."),
    "Columns(...)": ("load", "fix: pass one Columns(...).", "fix: pass one --col FIELD=COLUMN."),
    "load_orders(path, table=...)": (
        "summarize", ("'shop.duckdb' looks like a database file; fix: name the table, e.g. load_orders('shop.duckdb', "
        "table='orders')."), "e.g. clv summarize 'shop.duckdb' --table orders."),
    "or wrap it: clv.data.Csv(path)": (
        "load", ("fix: use a .csv/.csv.gz/.txt, .parquet or .xlsx name, pass delimiter= for a text file, or wrap it: "
        "clv.data.Csv(path) / clv.data.Parquet(path) / clv.data.Excel(path)."), "name, pass --delimiter for a text file."),
    "header=False with names=[...]": (
        "load", ("'x.csv' has no header line (only blank lines); fix: check the file, or pass header=False with "
        "names=[...]."), "fix: check the file, or pass --names a,b,c (the column names)."),
    "header=False": ("load", "for a file without header pass header=False.", "without header pass --names a,b,c."),
    "delimiter=value": ("load", "e.g. delimiter=';'", "e.g. --delimiter ';'"),
    "delimiter=": ("load", "pass delimiter= for a text file", "pass --delimiter for a text file"),
    "delimiter (opening)": ("load", "delimiter must be one character", "--delimiter must be one character"),
    "names=value": ("load", "e.g. names='a,b'", "e.g. --names a,b"),
    "names=": ("load", "give names= for each column", "give --names for each column"),
    "names (opening)": ("load", "names: 3 given, 4 columns", "--names: 3 given, 4 columns"),
    "table=value": ("load", "pass table='orders'", "pass --table orders"),
    "table=": ("load", "pass table= to name it", "pass --table to name it"),
    "table (opening)": ("load", "table 'x' not found", "--table 'x' not found"),
    "encoding=value": ("load", "is not UTF-8 (byte 0xa3 at line 17); fix: encoding='cp1252' (or latin-1)",
                       "fix: --encoding cp1252 (or latin-1)"),
    "encoding=": ("load", "pass encoding= for other files", "pass --encoding for other files"),
    "encoding (opening)": ("load", "encoding 'x' is unknown", "--encoding 'x' is unknown"),
    "sheet=value": ("load", "fix: sheet='Orders'", "fix: --sheet Orders"),
    "sheet=": ("load", "pass sheet= to choose", "pass --sheet to choose"),
    "sheet (opening)": ("load", "sheet 'x' not found", "--sheet 'x' not found"),
    "engine=value": ("summarize", "engine='postgres://clv:***@db:5432/shop' could not connect: refused",
                     "--engine 'postgres://clv:***@db:5432/shop' could not connect"),
    "engine=": ("fit", "fix: pass engine= with a URL", "fix: pass --engine with a URL"),
    "engine (opening)": ("load", "engine 'x' is unknown", "--engine 'x' is unknown"),
    "spark_master=value": ("load", "fix: pass engine='spark' with spark_master='spark://h:7077'.",
                           "fix: pass --engine spark with --spark-master spark://h:7077."),
    "spark_master=": ("load", "spark_master= and spark_conf= configure Spark", "--spark-master and --spark-conf configure Spark"),
    "spark_master (bare)": ("score", "check spark_master (or $CLV_SPARK_MASTER)", "check --spark-master (or $CLV_SPARK_MASTER)"),
    "spark_conf=value": ("load", "spark_conf='x' is not a mapping", "--spark-conf x is not a mapping"),
    "spark_conf=": ("load", "check the spark_conf= settings", "check the --spark-conf settings"),
    "spark_conf (bare)": ("load", "the spark_conf settings", "the --spark-conf settings"),
    "load it into your database first": (
        "load", ("reading a text file needs a DuckDB connection (got 'pyspark'); fix: load it into your database first "
                 "and pass the table, or use clv.engine.connect()."),
        "fix: load it into that engine first and name it with --table (no INPUT), or leave --engine out."),
    "observation_end=value": ("load", "observation_end='x' is not a date; fix: e.g. '1997-09-30'.",
                              "--observation-end x is not a date"),
    "observation_end=": ("load", "pass observation_end= to set it", "pass --observation-end to set it"),
    "observation_end (bare)": ("load", "lines after observation_end are set aside", "lines after --observation-end are"),
    "totals=False": ("summarize", "use totals=False for speed", "use --no-totals for speed"),
    "unit=value": ("summarize", "fix: e.g. unit='week'.", "fix: e.g. --time-unit week."),
    "unit=": ("report", "pass unit= as", "pass --time-unit as"),
    "unit (opening)": ("segments", "unit must be one of day, week", "--time-unit must be one of day, week"),
    "merge=value": ("summarize", "merge='unit' supports day, week and month periods; use merge='day' with unit='year'.",
                    "--merge unit supports day, week and month periods; use --merge day with --time-unit year."),
    "merge=": ("backtest", "pass merge= as", "pass --merge as"),
    "merge (opening)": ("summarize", "merge must be day or unit", "--merge must be day or unit"),
    "calibration_end=value": ("summarize", "calibration_end='x' is not a date", "--calibration-end x is not a date"),
    "calibration_end=": ("backtest", "pass calibration_end= or", "pass --calibration-end or"),
    "calibration_end (bare)": ("backtest", "calibration_end 2030-01-01 must lie in [2024-01-03, 2024-06-20)",
                               "--calibration-end 2030-01-01 must lie in"),
    "calibration_fraction=value": ("backtest", "e.g. calibration_fraction=0.5", "e.g. --calibration-fraction 0.5"),
    "calibration_fraction=": ("backtest", "pass calibration_fraction= instead", "pass --calibration-fraction instead"),
    "calibration_fraction (bare)": (
        "backtest", "give exactly one of calibration_end (a date) or calibration_fraction (e.g. 0.5 of the data's span).",
        "give exactly one of --calibration-end (a date) or --calibration-fraction (e.g. 0.5"),
    "a pandas Series mapping customer_id -> segment": (
        "kpis", ("Fix: pass one of these columns, 'acquisition_month', 'acquisition_quarter', or a pandas Series mapping "
        "customer_id -> segment."), ("'acquisition_quarter' (a column of your file needs --extra COLUMN to reach the "
        "orders).")),
    "the spend DataFrame": ("kpis", "cac: the spend DataFrame lacks column(s) spend", "the spend file lacks"),
    "margin_change=value": ("whatif", "margin_change=+0.5 takes the margin rate 0.8 above 100%",
                            "--margin-change +0.5 takes the margin"),
    "margin_change=": ("whatif", "pass margin_change= as", "pass --margin-change as"),
    "margin_change (opening)": ("whatif", "margin_change must be > -1", "--margin-change must be > -1"),
    "margin=value": ("kpis", "Fix: pass margin=0.3 (your gross margin rate) or fill the cost column.",
                     "Fix: pass --margin 0.3 (your gross margin rate)"),
    "margin=": ("kpis", "pass margin= or fill the cost column", "pass --margin or fill the cost column"),
    "margin (opening)": ("score", "margin must be a finite fraction >= 0 of revenue (0.3 = 30%), got -1.0.",
                         "--margin must be a finite fraction"),
    "churn_rate=value": ("kpis", "churn_rate=2.0 must be a rate in (0, 1] per period. Fix: e.g. churn_rate=0.4.",
                         "--churn 2.0 must be a rate in (0, 1] per period. Fix: e.g. --churn 0.4."),
    "churn_rate=": ("kpis", "Fix: pass churn_rate= or lifespan=, widen the window",
                    "Fix: pass --churn or --lifespan, widen the window"),
    "churn_rate (bare)": ("kpis", "churn_rate: cannot be estimated", "--churn: cannot be estimated"),
    "lifespan=value": ("kpis", "lifespan=-1.0 must be a positive number of periods. Fix: e.g. lifespan=3.",
                       "--lifespan -1.0 must be a positive number of periods. Fix: e.g. --lifespan 3."),
    "lifespan=": ("kpis", "or lifespan=.", "or --lifespan."),
    "lifespan (opening)": ("kpis", "lifespan: too long", "--lifespan: too long"),
    "cac=value": ("kpis", "cac=-5.0 must be a finite number >= 0. Fix: pass e.g. cac=25.0.",
                  "--cac -5.0 must be a finite number >= 0. Fix: pass e.g. --cac 25.0."),
    "cac=": ("kpis", "pass cac= as a number", "pass --cac as a number"),
    "cac (opening)": ("kpis", "cac: a CAC per channel needs a 'channel' column", "--cac: a CAC per channel"),
    "segment_by=value": ("kpis", "Fix: pass e.g. segment_by='channel'.", "Fix: pass e.g. --segment-by channel."),
    "segment_by=": ("kpis", "pass segment_by= to split", "pass --segment-by to split"),
    "segment_by (bare)": ("kpis", "segment_by: customer_id 'a' appears more than once", "--segment-by: customer_id"),
    "interval coverages": ("score", "interval coverages must lie strictly between 0 and 1 (0.8 = 80%), got 2.0.",
                           "--intervals coverages must lie strictly between 0 and 1"),
    "(or None for the whole lifetime)": (
        "score", "horizon must be a positive number of model time units (or None for the whole lifetime), got -1.0.",
        "--horizon must be a positive number of model time units (or inf for the whole lifetime)"),
    "time_unit=value": ("score", "time_unit='fortnight' is not a known unit", "--time-unit fortnight is not a known"),
    "time_unit=": ("fit", "pass time_unit= with", "pass --time-unit with"),
    "time_unit (bare)": ("kpis", "the time_unit of the KPIs", "the --time-unit of the KPIs"),
    "horizon=value": ("score", "pass horizon=None for the whole lifetime", "pass --horizon inf for the whole lifetime"),
    "horizon=": ("score", "or give horizon= as", "or give --horizon as"),
    "horizon (opening)": ("report", "horizon must be a positive number of weeks, got -1.0.",
                          "--horizon must be a positive number of weeks"),
    "intervals=value": ("score", "pass intervals=None (CLI: --intervals none) to score",
                        "pass --intervals none (CLI: --intervals none) to score"),
    "intervals=": ("backtest", "pass intervals= as", "pass --intervals as"),
    "intervals (opening)": ("score", "intervals need the model's parameter covariance",
                            "--intervals need the model's parameter covariance"),
    "discount_rate=value": ("score", "e.g. discount_rate=0.1", "e.g. --discount-rate 0.1"),
    "discount_rate=": ("score", "pass discount_rate= >", "pass --discount-rate >"),
    "discount_rate (bare)": ("whatif", "discount_rate must be a finite number >= 0",
                             "--discount-rate must be a finite number >= 0"),
    "discount_step=value": ("score", "discount_step='fortnight' is unknown", "--discount-step fortnight is unknown"),
    "discount_step=": ("score", "pass discount_step= as", "pass --discount-step as"),
    "discount_step (bare)": ("score", "discount_step must be a unit name", "--discount-step must be a unit name"),
    "n_draws=value": ("score", "e.g. n_draws=200", "e.g. --draws 200"),
    "n_draws=": ("backtest", "pass n_draws= above", "pass --draws above"),
    "n_draws (bare)": ("score", "n_draws must be at least 10 for quantiles to mean anything, got 1.",
                       "--draws must be at least 10"),
    "interval_method=value": ("score", "interval_method='closed' needs one of ['bgnbd']; use 'simulate'.",
                              "--interval-method closed needs one of ['bgnbd']"),
    "interval_method=": ("score", "pass interval_method= as", "pass --interval-method as"),
    "interval_method (bare)": ("score", "interval_method must be 'auto', 'closed', 'factorised' or 'simulate'",
                               "--interval-method must be 'auto'"),
    "value_per_period=value": ("score", "e.g. value_per_period=9.99", "e.g. --value-per-period 9.99"),
    "value_per_period=": ("score", "pass value_per_period= with", "pass --value-per-period with"),
    "value_per_period (bare)": ("score", "value_per_period must be a finite number", "--value-per-period must be"),
    "tenure_col=value": ("score", "e.g. tenure_col='months'", "e.g. --tenure-col months"),
    "tenure_col=": ("score", "Fix: pass tenure_col= with the tenure column's name.",
                    "Fix: pass --tenure-col with the tenure column's name."),
    "tenure_col (bare)": ("fit", "the tenure_col column", "the --tenure-col column"),
    "churned_col=value": ("fit", "e.g. churned_col='gone'", "e.g. --churned-col gone"),
    "churned_col=": ("score", "Fix: pass churned_col= with the churned column's name.",
                     "Fix: pass --churned-col with the churned"),
    "churned_col (bare)": ("fit", "the churned_col column", "the --churned-col column"),
    "spend_model=value": ("backtest", "spend_model must be 'gammagamma' or None, got 'x'. Or spend_model='gammagamma'",
                          "Or --spend-model gammagamma"),
    "spend_model=": ("backtest", "pass spend_model= as", "pass --spend-model as"),
    "spend_model (bare)": ("backtest", "spend_model must be 'gammagamma' or None", "--spend-model must be"),
    "transaction_model='fit'": ("whatif", "Fix: fit clv.models.bgnbd.BetaGeoModel, or pass transaction_model='fit'.",
                                "Fix: fit clv.models.bgnbd.BetaGeoModel or drop --model (a BG/NBD model is fitted)."),
    "segment_col=value": ("whatif", "segment_col='channel' needs segment_value=, e.g. segment_value='email'.",
                          "--segment-col channel needs --segment-value, e.g. --segment-value email."),
    "segment_col=": ("whatif", "or as segment_col= + segment_value=, not both.",
                     "or as --segment-col + --segment-value, not both."),
    "segment_col (bare)": ("whatif", "the segment_col is missing", "the --segment-col is missing"),
    "segment_value=value": ("whatif", "e.g. segment_value='email'.", "e.g. --segment-value email."),
    "segment_value=": ("whatif", "needs segment_value=, e.g.", "needs --segment-value, e.g."),
    "segment_value (bare)": ("whatif", "no customer has segment_value", "no customer has --segment-value"),
    "price_elasticity=value": ("whatif", "price_elasticity=-3 with aov=0.5 makes purchase frequency zero",
                               "--elasticity -3 with --aov 0.5 makes purchase frequency zero"),
    "price_elasticity=": ("whatif", "pass price_elasticity= between", "pass --elasticity between"),
    "price_elasticity (bare)": ("whatif", "price_elasticity must be finite", "--elasticity must be finite"),
    "aov=value": ("whatif", "Fix: Scenario(aov=0.05).", "Fix: Scenario(--aov 0.05)."),
    "aov=": ("whatif", "pass aov= as a change", "pass --aov as a change"),
    "aov (opening)": ("whatif", "aov must be above -100%", "--aov must be above -100%"),
    "churn=value": ("whatif", "churn=+0.5 would push the mean dropout", "--churn +0.5 would push the mean dropout"),
    "churn=": ("whatif", "pass churn= as", "pass --churn as"),
    "churn (opening)": ("whatif", "churn must be above -100%", "--churn must be above -100%"),
    "basket=value": ("crosssell", ("basket='trolley' is not one of customer, order; fix: basket='customer' "
                     "(everything a customer bought)"), ("--basket trolley is not one of customer, order; fix: --basket "
                     "customer (everything")),
    "basket=": ("crosssell", "pass basket= as", "pass --basket as"),
    "basket (opening)": ("recommend", "basket must be customer or order", "--basket must be customer or order"),
    "min_support=value": ("crosssell", "min_support=2.0 must be a share between 0 and 1",
                          "--min-support 2.0 must be a share between 0 and 1"),
    "min_support=": ("crosssell", "lower min_support= to", "lower --min-support to"),
    "min_support (bare)": ("recommend", "no pair reaches min_support", "no pair reaches --min-support"),
    "min_count=value": ("crosssell", "min_count=0 must be a whole number of baskets >= 1",
                        "--min-count 0 must be a whole number"),
    "min_count=": ("crosssell", "lower min_count= to", "lower --min-count to"),
    "min_count (bare)": ("crosssell", "no pair reaches min_count", "no pair reaches --min-count"),
    "exclude_products=value": ("crosssell", "e.g. exclude_products='POST'", "e.g. --exclude-product POST"),
    "exclude_products=": ("recommend", "pass exclude_products= to", "pass --exclude-product to"),
    "exclude_products (bare)": ("crosssell", "every product is in exclude_products", ("every product is in "
                                "--exclude-product")),
    "weight=value": ("recommend", "weight='magic' is not one of confidence, lift; fix: weight='confidence' or 'lift'.",
                     "--weight magic is not one of confidence, lift; fix: --weight confidence or 'lift'."),
    "weight=": ("recommend", "pass weight= as", "pass --weight as"),
    "weight (opening)": ("recommend", "weight must be confidence or lift", "--weight must be confidence or lift"),
    "min_lift=value": ("recommend", "min_lift=-1.0 must be a number >= 0", "--min-lift -1.0 must be a number >= 0"),
    "min_lift=": ("recommend", "lower min_lift= to", "lower --min-lift to"),
    "min_lift (bare)": ("recommend", "no rule has lift above min_lift", "no rule has lift above --min-lift"),
    "k=value": ("recommend", "k=0 must be a whole number of suggestions >= 1, e.g. 5.",
                "--k 0 must be a whole number of suggestions >= 1, e.g. 5."),
    "k=": ("recommend", "pass k= as", "pass --k as"),
    "k (opening)": ("recommend", "k must be positive", "--k must be positive"),
}
"""Entry key of :data:`clv.cli.wording.WORDING` -> (command, Python message, expected CLI text in the result)."""


def test_wording_keys_are_unique():
    keys = [w.key for w in WORDING]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("wording", WORDING, ids=[w.key for w in WORDING])
def test_each_wording_entry_translates_its_phrase(wording):
    assert wording.key in WORDING_CASES, f"no test case for the wording entry {wording.key!r}"
    command, message, expected = WORDING_CASES[wording.key]
    assert wording.applies_to(command)
    assert re.search(wording.python, message), f"{wording.key}: the example does not hold the Python phrase"
    assert expected in to_cli(message, command), to_cli(message, command)


def test_every_wording_case_names_an_entry():
    assert set(WORDING_CASES) <= {w.key for w in WORDING}, set(WORDING_CASES) - {w.key for w in WORDING}


def test_data_words_stay_in_commands_without_that_option():
    model_error = "first offending row 3: frequency=2, recency=-1.0, T=5.0 (1 rows in all)."
    assert to_cli(model_error, "fit") == model_error
    assert to_cli("margin=0.3", "fit") == "margin=0.3"
    assert to_cli("Fix: pass margin=0.3", None) == "Fix: pass margin=0.3"
