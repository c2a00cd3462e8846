"""Outcome tables: for every prompt, the quality each model achieved and what that call cost.

The canonical format is RouterBench's wide table: ``row_id``, ``prompt``, an optional task
column, then for every model ``M`` a column ``M`` (quality in [0, 1]) and ``M|total_cost`` (USD
for that call). CSV and JSONL (one object per line, same fields) are read. Other columns are
ignored, except an optional ``split`` column that :func:`read_table` can filter on.

Two readers keep evaluation honest. :func:`read_table` loads everything and is for training.
:func:`open_queries` loads only what a router may see at decision time (ids, prompts, tasks); the
outcomes stay on disk until :meth:`QueryTable.load_outcomes` is called to score decisions, so a
policy being evaluated cannot read the answers of the rows it is judged on.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartroute_llm.errors import SmartRouteError

COST_SUFFIX = "|total_cost"
Array = npt.NDArray[np.float64]


class TableError(SmartRouteError, ValueError):
    """An outcome table that cannot be used as it is; the message names the problem and fix."""


@dataclass(slots=True)
class OutcomeTable:
    """Prompts with every model's recorded quality and cost (rows x models arrays)."""

    row_ids: list[str]
    prompts: list[str]
    tasks: list[str | None]
    models: list[str]
    quality: Array
    cost: Array
    source: str = ""

    def __post_init__(self) -> None:
        n, m = len(self.row_ids), len(self.models)
        for name, arr in (("quality", self.quality), ("cost", self.cost)):
            if arr.shape != (n, m):
                raise TableError(f"{name}: shape {arr.shape} does not match {n} rows x {m} models")
        if len(self.prompts) != n or len(self.tasks) != n:
            raise TableError("prompts and tasks must have one entry per row")

    def __len__(self) -> int:
        return len(self.row_ids)

    def model_index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise TableError(
                f"unknown model {model!r}; this table has {self.models}"
            ) from None

    def take(self, index: Sequence[int] | npt.NDArray[np.intp]) -> OutcomeTable:
        """The rows at ``index`` (in that order)."""
        idx = np.asarray(index, dtype=np.intp)
        return OutcomeTable(
            [self.row_ids[i] for i in idx],
            [self.prompts[i] for i in idx],
            [self.tasks[i] for i in idx],
            list(self.models),
            self.quality[idx],
            self.cost[idx],
            self.source,
        )

    def queries(self) -> QueryTable:
        """This table as a :class:`QueryTable` whose outcomes are held back until scoring."""
        return QueryTable(
            list(self.row_ids),
            list(self.prompts),
            list(self.tasks),
            list(self.models),
            self.source,
            _outcomes=self,
        )

    def mean_quality(self) -> dict[str, float]:
        return dict(zip(self.models, self.quality.mean(axis=0).tolist(), strict=True))

    def mean_cost(self) -> dict[str, float]:
        return dict(zip(self.models, self.cost.mean(axis=0).tolist(), strict=True))


@dataclass(slots=True)
class QueryTable:
    """What a router may see of an evaluation table: ids, prompts, tasks and model names.

    Outcomes (quality and cost) are read from the file only by :meth:`load_outcomes`;
    ``outcomes_loaded`` records whether that has happened.
    """

    row_ids: list[str]
    prompts: list[str]
    tasks: list[str | None]
    models: list[str]
    source: str = ""
    _reader: dict[str, Any] = field(default_factory=dict, repr=False)
    _outcomes: OutcomeTable | None = field(default=None, repr=False)
    outcomes_loaded: bool = False

    def __len__(self) -> int:
        return len(self.row_ids)

    def load_outcomes(self) -> OutcomeTable:
        """Read the held-back quality and cost columns, for scoring only."""
        self.outcomes_loaded = True
        if self._outcomes is None:
            table = read_table(**self._reader)
            if table.row_ids != self.row_ids:
                raise TableError(
                    f"{self.source}: rows changed since the queries were read; re-open the table"
                )
            self._outcomes = table
        return self._outcomes


# --- reading ---------------------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    if not path.is_file():
        raise TableError(f"{path}: no such file; pass the path of a CSV or JSONL outcome table")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _jsonl_rows(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    fh = path.open(newline="", encoding="utf-8")
    reader = csv.DictReader(fh)
    header = list(reader.fieldnames or [])

    def gen() -> Iterator[dict[str, Any]]:
        with fh:
            yield from reader

    return header, gen()


def _jsonl_rows(path: Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TableError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise TableError(f"{path}:{lineno}: expected a JSON object per line")
            records.append(obj)
    header: list[str] = []
    seen: set[str] = set()
    for r in records:
        for k in r:
            if k not in seen:
                seen.add(k)
                header.append(k)
    return header, iter(records)


def table_models(header: Sequence[str], source: str = "") -> list[str]:
    """The models of a header: every ``M`` that has both ``M`` and ``M|total_cost``."""
    cols = set(header)
    for required in ("row_id", "prompt"):
        if required not in cols:
            raise TableError(
                f"{source}: missing column {required!r}; an outcome table needs row_id, "
                f"prompt, and for every model M the columns M and M{COST_SUFFIX}"
            )
    models = [c[: -len(COST_SUFFIX)] for c in header if c.endswith(COST_SUFFIX)]
    missing = [m for m in models if m not in cols]
    if missing:
        raise TableError(
            f"{source}: cost columns without a quality column for {missing}; add the column "
            f"M (quality in [0, 1]) for each"
        )
    if not models:
        raise TableError(
            f"{source}: no model columns; for every model M add M (quality in [0, 1]) and "
            f"M{COST_SUFFIX} (USD)"
        )
    return models


def _number(value: Any, where: str, *, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        s = value.strip()
        low = s.lower()
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
        if not s:
            return math.nan
        value = s
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TableError(f"{where}: {what} {value!r} is not a number") from None


def read_table(
    path: str | Path,
    *,
    models: Sequence[str] | None = None,
    split: str | None = None,
    task_column: str = "task",
    drop_incomplete: bool = False,
) -> OutcomeTable:
    """Read a whole outcome table (CSV, or JSONL by extension).

    ``models`` keeps only those models (each must be in the table); ``split`` keeps the rows whose
    ``split`` column equals it; ``drop_incomplete`` skips rows with a missing quality or cost
    instead of failing on them.
    """
    p = Path(path)
    src = str(p)
    header, rows = _rows(p)
    available = table_models(header, src)
    if models is None:
        chosen = available
    else:
        unknown = [m for m in models if m not in available]
        if unknown:
            raise TableError(f"{src}: unknown models {unknown}; the table has {available}")
        chosen = list(models)
    if split is not None and "split" not in header:
        raise TableError(f"{src}: split={split!r} asked for but the table has no 'split' column")
    has_task = task_column in header
    ids: list[str] = []
    prompts: list[str] = []
    tasks: list[str | None] = []
    qual: list[list[float]] = []
    cost: list[list[float]] = []
    seen: set[str] = set()
    for lineno, row in enumerate(rows, 2):
        if split is not None and str(row.get("split")) != split:
            continue
        rid = str(row.get("row_id") or "").strip()
        where = f"{src}: row {rid or lineno}"
        if not rid:
            raise TableError(f"{src}: row {lineno}: empty row_id; every row needs a unique id")
        if rid in seen:
            raise TableError(f"{where}: duplicate row_id; row ids must be unique")
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise TableError(f"{where}: empty prompt")
        q = [_number(row.get(m), where, what=f"quality of {m}") for m in chosen]
        c = [_number(row.get(m + COST_SUFFIX), where, what=f"cost of {m}") for m in chosen]
        bad = [
            m for m, qv, cv in zip(chosen, q, c, strict=True) if math.isnan(qv) or math.isnan(cv)
        ]
        if bad:
            if drop_incomplete:
                continue
            raise TableError(
                f"{where}: missing or NaN outcome for {sorted(set(bad))}; fill it, or drop such "
                "rows (drop_incomplete=True, --drop-incomplete)"
            )
        for m, v in zip(chosen, q, strict=True):
            if not 0.0 <= v <= 1.0:
                raise TableError(
                    f"{where}: quality of {m} is {v}, outside [0, 1]; rescale scores to [0, 1] "
                    "(e.g. divide a 1-10 grade by 10)"
                )
        for m, v in zip(chosen, c, strict=True):
            if v < 0 or math.isinf(v):
                raise TableError(f"{where}: cost of {m} is {v}; costs must be finite USD >= 0")
        seen.add(rid)
        ids.append(rid)
        prompts.append(prompt)
        task = row.get(task_column) if has_task else None
        tasks.append(None if task in (None, "") else str(task))
        qual.append(q)
        cost.append(c)
    if not ids:
        raise TableError(
            f"{src}: no rows" + (f" with split={split!r}" if split is not None else "")
        )
    n = len(chosen)
    return OutcomeTable(
        ids,
        prompts,
        tasks,
        list(chosen),
        np.asarray(qual, dtype=np.float64).reshape(-1, n),
        np.asarray(cost, dtype=np.float64).reshape(-1, n),
        src,
    )


def open_queries(
    path: str | Path,
    *,
    models: Sequence[str] | None = None,
    split: str | None = None,
    task_column: str = "task",
    drop_incomplete: bool = False,
) -> QueryTable:
    """Read only the ids, prompts and tasks of an evaluation table; outcomes stay on disk.

    Rows are validated (and, with ``drop_incomplete``, filtered) when the outcomes are loaded;
    the row set chosen here must match then, so incomplete rows are detected by checking only
    whether the outcome cells are empty, never their values.
    """
    p = Path(path)
    src = str(p)
    header, rows = _rows(p)
    available = table_models(header, src)
    chosen = available if models is None else list(models)
    unknown = [m for m in chosen if m not in available]
    if unknown:
        raise TableError(f"{src}: unknown models {unknown}; the table has {available}")
    if split is not None and "split" not in header:
        raise TableError(f"{src}: split={split!r} asked for but the table has no 'split' column")
    has_task = task_column in header
    outcome_cols = [*chosen, *(m + COST_SUFFIX for m in chosen)]
    ids: list[str] = []
    prompts: list[str] = []
    tasks: list[str | None] = []
    for row in rows:
        if split is not None and str(row.get("split")) != split:
            continue
        if drop_incomplete and any(
            row.get(c) is None or str(row.get(c)).strip().lower() in ("", "nan")
            for c in outcome_cols
        ):
            continue
        ids.append(str(row.get("row_id") or "").strip())
        prompts.append(str(row.get("prompt") or ""))
        task = row.get(task_column) if has_task else None
        tasks.append(None if task in (None, "") else str(task))
    reader = {
        "path": p,
        "models": chosen,
        "split": split,
        "task_column": task_column,
        "drop_incomplete": drop_incomplete,
    }
    return QueryTable(ids, prompts, tasks, list(chosen), src, _reader=reader)


def split_table(
    table: OutcomeTable, test_fraction: float = 0.3, *, seed: int = 0
) -> tuple[OutcomeTable, OutcomeTable]:
    """A random train/test split (for tables that do not come with one)."""
    if not 0.0 < test_fraction < 1.0:
        raise TableError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(table))
    k = max(1, round(len(table) * test_fraction))
    return table.take(np.sort(order[k:])), table.take(np.sort(order[:k]))
