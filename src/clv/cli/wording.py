"""Error messages in the words of the command line.

The library's errors name Python arguments (``LoadPolicy(date_format=...)``,
``Columns(customer_id='X')``, ``margin=0.3``) because that is what a Python user
types. On the command line the same fix is a flag (``--date-format``,
``--col customer_id=X``, ``--margin 0.3``). :data:`WORDING` is the one table that
translates them; :func:`to_cli` applies it to every message the CLI prints.

Each entry is a regular expression on the Python phrase, its CLI replacement and
the commands it applies to (None: every command). Entries are tried in order, so
specific phrases come before the generic ``keyword=value`` ones. A keyword that
means data in one command (``frequency=3`` in a model's "first offending row")
is only translated in the commands where it is an option.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_VALUE = r"""(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>[^\s,;)'"{]*[^\s,;)'"{.]))"""
_SHELL_SAFE = re.compile(r"[\w./:%+@,-]+")

ORDERS_COMMANDS = frozenset({
    "load", "summarize", "kpis", "backtest", "segments", "acquisition", "cohorts", "whatif", "crosssell",
    "recommend", "report",
})
"""Commands that read order lines through the shared loading options (``--col``, ``--policy``...)."""
FROM_ORDERS_COMMANDS = frozenset({"fit", "score"})
"""Commands that read order lines with ``--from-orders`` (``--customer-col``, ``--date-format``...)."""
MODEL_COMMANDS = frozenset({"fit", "score"})
LOADING_COMMANDS = ORDERS_COMMANDS | FROM_ORDERS_COMMANDS | {"nps"}


@dataclass(frozen=True)
class Wording:
    """One translation: ``python`` (a regular expression) becomes ``cli`` in ``commands``."""

    key: str
    python: str
    cli: str | Callable[[re.Match], str]
    commands: frozenset[str] | None = None

    def applies_to(self, command: str | None) -> bool:
        return self.commands is None or command in self.commands

    def apply(self, message: str) -> str:
        return re.sub(self.python, self.cli, message)


def shell_value(match: re.Match) -> str:
    """The value of a ``name=value`` match as a shell word: quotes kept only where the shell needs them."""
    groups = match.groupdict()
    value = next((groups[g] for g in ("single", "double", "bare") if groups.get(g) is not None), "")
    if value in ("None",):
        return "none"
    if _SHELL_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def flag_for(name: str, flag: str, commands: frozenset[str] | None = None, *, bare: bool = False,
             none: str | None = None, label: str = "") -> list[Wording]:
    """Translations of a keyword argument ``name`` into ``flag``.

    ``name=value`` -> ``flag value`` and ``name=`` (no value) -> ``flag``. With
    ``bare`` (names that only ever mean the argument, e.g. ``calibration_end``) any
    other mention of the name becomes the flag too; otherwise only a mention that
    opens the message (``margin must be...``, ``margin: ...``). ``none``: what
    ``name=None`` means on the command line (e.g. ``--intervals none``). ``label``
    tells apart the entries of a name that is a different flag in other commands.
    """
    tag = f" ({label})" if label else ""

    def with_value(match: re.Match) -> str:
        if none is not None and shell_value(match) == "none":
            return none
        return f"{flag} {shell_value(match)}"

    rows = [
        Wording(f"{name}=value{tag}", rf"(?<![\w.-]){name}={_VALUE}", with_value, commands),
        Wording(f"{name}={tag}", rf"(?<![\w.-]){name}=(?=[\s,;.)]|$)", flag, commands),
    ]
    if bare:
        rows.append(Wording(f"{name} (bare){tag}", rf"(?<![\w.'-]){name}\b(?![(=])", flag, commands))
    else:
        rows.append(Wording(f"{name} (opening){tag}", rf"^{name}(?=[ :])", flag, commands))
    return rows


def _policy_field(match: re.Match) -> str:
    return f"--policy {match['field']}={shell_value(match).strip(chr(39))}"


_POLICY_ARGUMENT = re.compile(r"(?P<field>\w+)=" + _VALUE)


def _policy_fields(match: re.Match) -> str:
    """``LoadPolicy(a='x', b='y')`` -> ``--policy a=x --policy b=y`` (a lone mark stays quoted: ``'.'``)."""
    def word(m: re.Match) -> str:
        value = shell_value(m).strip(chr(39))
        return f"'{value}'" if len(value) == 1 and not value.isalnum() else value

    return " ".join(f"--policy {m['field']}={word(m)}" for m in _POLICY_ARGUMENT.finditer(match["arguments"]))


def _columns_field(match: re.Match) -> str:
    return f"--col {match['field']}={shell_value(match).strip(chr(39))}"


_LOAD_POLICY = [
    Wording("LoadPolicy(date_format=...)", rf"LoadPolicy\(date_format={_VALUE}\)",
            lambda m: f"--date-format {shell_value(m)}"),
    Wording("LoadPolicy(exchange_rates=...) has rate",
            r"LoadPolicy\(exchange_rates=\.\.\.\) has rate (?P<rate>\S+) for '(?P<code>[^']*)'",
            lambda m: f"--rate {m['code']}={m['rate']} is not usable"),
    Wording("LoadPolicy(exchange_rates=...)", r"LoadPolicy\(exchange_rates=(?:\.\.\.|\{[^}]*\})\)",
            "--rate CODE=RATE (repeatable, e.g. --rate USD=0.92)"),
    Wording("LoadPolicy(cancel_prefix='') -> none", r"pass None to turn the prefix rule off",
            "pass --policy cancel_prefix=none to turn the prefix rule off"),
    Wording("LoadPolicy(timezone=...)", rf"LoadPolicy\(timezone={_VALUE}\)",
            lambda m: f"--policy timezone={shell_value(m).strip(chr(39))}"),
    Wording("LoadPolicy(field=value)", rf"LoadPolicy\((?P<field>\w+)={_VALUE}\)", _policy_field),
    Wording("LoadPolicy(a=x, b=y)", rf"LoadPolicy\((?P<arguments>\w+={_VALUE.replace('?P<single>', '?:').replace('?P<double>', '?:').replace('?P<bare>', '?:')}(?:, \w+=(?:'[^']*'|[^\s,;)]+))+)\)",
            _policy_fields),
    Wording("LoadPolicy(...)", r"LoadPolicy\(\.\.\.\)", "--policy KEY=VALUE"),
    Wording("unknown_currency='reject'", rf"(?<![\w(]){'unknown_currency'}={_VALUE}",
            lambda m: f"--policy unknown_currency={shell_value(m)}"),
]

_COLUMNS = [
    Wording("Columns got both a=... and b=...",
            rf"Columns got both (?P<a>\w+)={_VALUE} and (?P<b>\w+)=(?:'(?P<second>[^']*)'|(?P<second_bare>\S+?))(?=;)",
            lambda m: (f"--col {m['a']}={shell_value(m).strip(chr(39))} and "
                       f"--col {m['b']}={m['second'] if m['second'] is not None else m['second_bare']} were both given")),
    Wording("Columns got unit_price=... without quantity",
            rf"Columns got unit_price={_VALUE} without quantity or amount; fix: pass quantity= \(amount = quantity x "
            r"unit_price\) or amount=\.",
            lambda m: (f"--col unit_price={shell_value(m).strip(chr(39))} was given without quantity or amount; fix: "
                       "add --col quantity=COLUMN (amount = quantity x unit_price) or use --col amount=COLUMN.")),
    Wording("Columns(has_amounts=False)", r"Columns\(has_amounts=False\)", "a purchase log without amounts"),
    Wording("Columns(extra='x')", rf"Columns\(extra={_VALUE}\)", lambda m: f"--extra {shell_value(m)}"),
    Wording("Columns(extra=...)", r"Columns\(extra=(?:\.\.\.|[^)]*)\)", "--extra"),
    *(Wording(f"Columns({field}=...) in fit/score", rf"Columns\({field}={_VALUE}\)",
              lambda m, flag=flag: f"{flag} {shell_value(m)}", FROM_ORDERS_COMMANDS)
      for field, flag in (("customer_id", "--customer-col"), ("date", "--date-col"), ("timestamp", "--date-col"),
                          ("amount", "--amount-col"), ("order_id", "--order-id-col"))),
    Wording("Columns(field=value)", rf"Columns\((?P<field>\w+)={_VALUE}\)", _columns_field),
    Wording("Columns(field=...)", r"Columns\((?P<field>\w+)=\.\.\.\)", lambda m: f"--col {m['field']}=COLUMN"),
    Wording("Columns(...)", r"Columns\(\.\.\.\)", "--col FIELD=COLUMN"),
]
_ORDER_FILE = [
    Wording("load_orders(path, table=...)", rf"load_orders\((?P<path>'[^']*'|\"[^\"]*\"), table={_VALUE}\)",
            lambda m: f"clv {{command}} {m['path']} --table {shell_value(m)}"),
    Wording("or wrap it: clv.data.Csv(path)", r",? or wrap it: clv\.data\.\w+\(path\)(?: / clv\.data\.\w+\(path\))*", ""),
    Wording("header=False with names=[...]", r"(?<![\w-])header=False (?:with|and) names=(?:\[\.\.\.\]|\.\.\.)?",
            "--names a,b,c (the column names)"),
    Wording("header=False", r"(?<![\w-])header=False", "--names a,b,c"),
    *flag_for("delimiter", "--delimiter"),
    *flag_for("names", "--names"),
    *flag_for("table", "--table"),
    *flag_for("encoding", "--encoding"),
    *flag_for("sheet", "--sheet"),
    *flag_for("engine", "--engine", LOADING_COMMANDS),
    *flag_for("spark_master", "--spark-master", LOADING_COMMANDS, bare=True),
    *flag_for("spark_conf", "--spark-conf", LOADING_COMMANDS, bare=True),
    Wording("load it into your database first", r"load it into your database first and pass the table, or use "
            r"clv\.engine\.connect\(\)", "load it into that engine first and name it with --table (no INPUT), "
            "or leave --engine out", LOADING_COMMANDS),
    *flag_for("observation_end", "--observation-end", bare=True),
]
_SUMMARY = [
    Wording("totals=False", r"(?<![\w-])totals=False", "--no-totals", frozenset({"summarize"})),
    *flag_for("unit", "--time-unit", frozenset({"summarize", "backtest", "segments", "report"})),
    *flag_for("merge", "--merge", frozenset({"summarize", "backtest"})),
    *flag_for("calibration_end", "--calibration-end", frozenset({"summarize", "backtest", "report"}), bare=True),
    *flag_for("calibration_fraction", "--calibration-fraction", frozenset({"backtest"}), bare=True),
]
_MONEY = frozenset({"kpis", "backtest", "segments", "acquisition", "cohorts", "report", "score"})
_KPIS = frozenset({"kpis"})
_FORMULA = [
    Wording("the spend DataFrame", r"the spend DataFrame", "the spend file"),
    # whatif: the scenario's change is --margin-change, the base rate --margin (docs/glossary.md)
    *flag_for("margin_change", "--margin-change", frozenset({"whatif"})),
    *flag_for("margin", "--margin", _MONEY | {"whatif"}),
    *flag_for("churn_rate", "--churn", _KPIS, bare=True),
    *flag_for("lifespan", "--lifespan", _KPIS),
    *flag_for("cac", "--cac", _KPIS),
    Wording("a pandas Series mapping customer_id -> segment",
            r",? or a pandas Series mapping customer_id -> segment",
            " (a column of your file needs --extra COLUMN to reach the orders)", _KPIS),
    *flag_for("segment_by", "--segment-by", _KPIS, bare=True),
]
_SCORES = [
    Wording("interval coverages", r"^interval coverages", "--intervals coverages", frozenset({"score", "backtest"})),
    Wording("(or None for the whole lifetime)", r"\(or None for the whole lifetime\)", "(or inf for the whole lifetime)",
            frozenset({"score"})),
    *flag_for("time_unit", "--time-unit", frozenset({"fit", "score", "acquisition", "cohorts", "whatif", "summarize",
                                                     "backtest", "segments", "report", "kpis", "nps"}), bare=True),
    *flag_for("horizon", "--horizon", frozenset({"score", "segments", "report", "acquisition", "cohorts", "whatif"}),
              none="--horizon inf"),
    *flag_for("intervals", "--intervals", frozenset({"score", "backtest"}), none="--intervals none"),
    *flag_for("discount_rate", "--discount-rate", frozenset({"score", "segments", "whatif"}), bare=True),
    *flag_for("discount_step", "--discount-step", frozenset({"score"}), bare=True),
    *flag_for("n_draws", "--draws", frozenset({"score", "backtest"}), bare=True),
    *flag_for("interval_method", "--interval-method", frozenset({"score"}), bare=True),
    *flag_for("value_per_period", "--value-per-period", frozenset({"score"}), bare=True),
    *flag_for("tenure_col", "--tenure-col", MODEL_COMMANDS, bare=True),
    *flag_for("churned_col", "--churned-col", MODEL_COMMANDS, bare=True),
    *flag_for("spend_model", "--spend-model", frozenset({"backtest", "score"}), bare=True),
]
_DECISIONS = [
    Wording("transaction_model='fit'", r"(?:,? or )?pass transaction_model='fit'", " or drop --model (a BG/NBD model is fitted)",
            frozenset({"acquisition", "cohorts", "whatif"})),
    *flag_for("segment_col", "--segment-col", frozenset({"whatif"}), bare=True),
    *flag_for("segment_value", "--segment-value", frozenset({"whatif"}), bare=True),
    *flag_for("price_elasticity", "--elasticity", frozenset({"whatif"}), bare=True),
    *flag_for("aov", "--aov", frozenset({"whatif"})),
    *flag_for("churn", "--churn", frozenset({"whatif"})),
    *flag_for("basket", "--basket", frozenset({"crosssell", "recommend"})),
    *flag_for("min_support", "--min-support", frozenset({"crosssell", "recommend"}), bare=True),
    *flag_for("min_count", "--min-count", frozenset({"crosssell", "recommend"}), bare=True),
    *flag_for("exclude_products", "--exclude-product", frozenset({"crosssell", "recommend"}), bare=True),
    *flag_for("weight", "--weight", frozenset({"recommend"})),
    *flag_for("min_lift", "--min-lift", frozenset({"recommend"}), bare=True),
    *flag_for("k", "--k", frozenset({"recommend"})),
]

WORDING: tuple[Wording, ...] = (*_LOAD_POLICY, *_COLUMNS, *_ORDER_FILE, *_SUMMARY, *_FORMULA, *_SCORES, *_DECISIONS)
"""Every Python phrase -> CLI flag translation, most specific first."""


def to_cli(message: str, command: str | None = None) -> str:
    """``message`` with the Python phrases that have a CLI flag in ``command`` replaced by the flag."""
    for wording in WORDING:
        if wording.applies_to(command):
            message = wording.apply(message)
    return message.replace("clv {command}", f"clv {command or 'load'}")
