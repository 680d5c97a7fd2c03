"""vigil on Spark (PySpark 4): score and fit DataFrames through ``DataFrame.mapInArrow``
(Arrow batches in and out, no pandas), with no RDD API (so it runs on Spark Connect too).

* :func:`score` ships the model's JSON once (a broadcast variable on classic Spark; on Spark
  Connect, inside the task closure) and loads it once per Python worker process (cached by
  content hash). Models of row features only score each Arrow batch as it comes. Models
  with window stages (aggregates, beacon scores) are repartitioned by the entity columns the
  window stages share, so that every (entity, window) lies in one partition, and each
  partition is scored in one piece in the rows' original order (a row id taken before the
  shuffle): the result equals single-machine :meth:`vigil.Model.score` exactly. Memory per
  Python worker is then one partition: use more partitions (``partitions=``) for more data.
* :func:`fit` fits the pipeline on every partition and merges the fits on the driver
  (:meth:`vigil.Model.merge`): exact for rarity counts, PCA moments and the union of
  isolation-forest trees; a robust-z detector (medians) or an ensemble is refused. A
  baseline-quantile threshold keeps the largest of the partitions' cut-offs (not the
  quantile of the whole baseline): use :class:`vigil.ScoreAbove` for a cut-off that merges.

* :func:`progress` shows a tqdm bar of the Spark tasks done (of all stages of the jobs run
  inside it), polled from ``SparkContext.statusTracker()`` in a thread: wrap an action on a
  scored DataFrame in it (:func:`score` is lazy: the work runs at the action); :func:`fit`
  uses it for its own job (``progress=False`` turns it off). On Spark Connect (no
  SparkContext) there is no bar.

pyspark is imported lazily: ``import vigil`` never needs it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from typing import Any, Callable, Iterator, Optional, Union

import pyarrow as pa

from . import _native
from ._native import ParameterError, SchemaError
from ._pipeline import Model, Pipeline
from ._progress import Progress

__all__ = ["score", "fit", "entity_columns", "spark_types", "progress"]

# Per Python worker process: loaded models by the SHA-256 of their JSON.
_MODELS: dict[str, Model] = {}
_ROW_ID = "__vigil_row"


def _load(text: str, backend: str) -> Model:
    key = hashlib.sha256(text.encode()).hexdigest() + backend
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = Model.from_json(text, backend=backend)
    return model


def entity_columns(model: Model) -> Optional[list[str]]:
    """The entity columns every window stage of ``model`` groups by (the partition key that
    keeps each (entity, window) in one place): ``[]`` for a model without window stages,
    ``None`` when the window stages share no entity column (one partition is then needed)."""
    return _common_entities(json.loads(model.to_json())["features"])


def _common_entities(features: list[dict]) -> Optional[list[str]]:
    stages = [f for f in features if f.get("kind") in ("window", "beaconing")]
    if not stages:
        return []
    common: Optional[list[str]] = None
    for f in stages:
        cols = list(f["by"]) if f.get("kind") == "window" else [f["column"], f["dst"]]
        common = cols if common is None else [c for c in common if c in cols]
    return common or None


def _check_columns(wanted: list[str], names: list[str]) -> None:
    for k in wanted:
        if k not in names:
            raise SchemaError(f"column `{k}` not found in the Spark DataFrame (columns present: {', '.join(names)})")


def _arrow_schema(spark_df: Any) -> pa.Schema:
    """The Arrow schema mapInArrow hands the workers (timestamps in the session's zone)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    tz = spark_df.sparkSession.conf.get("spark.sql.session.timeZone")
    return to_arrow_schema(spark_df.schema, timezone=tz)


_SIGNED = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(),
           pa.uint64(): pa.decimal128(20, 0)}


def spark_types(schema: pa.Schema) -> pa.Schema:
    """``schema`` as Spark can hold it: unsigned integers widened to signed ones (UInt32
    features become Int64; UInt64 ids such as template ids become Decimal(20, 0), exact);
    dictionary-encoded columns (explanation feature names) as their values."""
    def fix(t: pa.DataType) -> pa.DataType:
        if t in _SIGNED:
            return _SIGNED[t]
        if pa.types.is_dictionary(t):  # e.g. explanation feature names: Spark holds the values
            return fix(t.value_type)
        if pa.types.is_list(t):
            return pa.list_(fix(t.value_type))
        if pa.types.is_fixed_size_list(t):
            return pa.list_(fix(t.value_type))
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, fix(f.type)) for f in t])
        return t

    return pa.schema([pa.field(f.name, fix(f.type)) for f in schema])


def _quoted(name: str) -> Any:
    """The column ``name`` (dots in Zeek names such as ``id.orig_h`` are part of the name)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _spark_schema(arrow_schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _ship(spark_df: Any, text: str) -> Any:
    """A zero-argument function returning ``text`` on the workers: a broadcast variable where
    the session has a SparkContext (classic Spark), else the string itself in the closure."""
    try:
        bc = spark_df.sparkSession.sparkContext.broadcast(text)
        return lambda: bc.value
    except Exception:  # Spark Connect: no SparkContext, no broadcast variables.
        return lambda: text


def score(spark_df: Any, model: Model, *, partitions: Optional[int] = None, backend: str = "cpu",
          features: bool = False) -> Any:
    """Scores a Spark DataFrame with ``model``: a DataFrame with the input columns, the
    feature columns when ``features`` (as in :meth:`vigil.Model.score`), ``score``,
    ``explanation``, ``alert`` and ``unscored_reason``, equal row for row to
    ``model.score`` of the whole table on one machine. ``partitions``: the number of
    partitions window models are spread over (default: Spark's shuffle setting).
    ``backend``: the workers' backend (default ``"cpu"``)."""
    from pyspark.sql import functions as F

    text = model.to_json()
    empty = _arrow_schema(spark_df).empty_table()
    out_schema = spark_types(model.score(empty, features=features).schema)
    get = _ship(spark_df, text)
    keys = entity_columns(model)
    # PySpark's mapInArrow resolves columns by name, which fails for names with dots (Zeek's
    # id.orig_h): the columns travel under positional names and are renamed on each side.
    names = list(spark_df.columns)
    out_names = out_schema.names
    plain = pa.schema([pa.field(f"_c{i}", f.type) for i, f in enumerate(out_schema)])

    if keys == []:
        def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            m = _load(get(), backend)
            for b in batches:
                out = m._configured("alerts", features).score(
                    pa.Table.from_batches([b]).rename_columns(names), backend, None)
                for ob in out.cast(out_schema).rename_columns(plain.names).to_batches():
                    yield ob

        positional = spark_df.toDF(*[f"_c{i}" for i in range(len(names))])
        return positional.mapInArrow(score_batches, _spark_schema(plain)).toDF(*out_names)

    with_id = spark_df.withColumn(_ROW_ID, F.monotonically_increasing_id())
    _check_columns(keys or [], names)
    key_at = [names.index(k) for k in keys or []]
    with_id = with_id.toDF(*[f"_c{i}" for i in range(len(names))], _ROW_ID)
    keys = None if keys is None else [f"_c{i}" for i in key_at]
    if keys is None:
        spread = with_id.repartition(1)
    elif partitions:
        spread = with_id.repartition(partitions, *[_quoted(k) for k in keys])
    else:
        spread = with_id.repartition(*[_quoted(k) for k in keys])
    spread = spread.sortWithinPartitions(_ROW_ID)
    id_schema = pa.schema(list(out_schema) + [pa.field(_ROW_ID, pa.int64())])
    plain_id = pa.schema(list(plain) + [pa.field(_ROW_ID, pa.int64())])

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        m = _load(get(), backend)
        parts = list(batches)
        if not parts or sum(b.num_rows for b in parts) == 0:
            return
        table = pa.Table.from_batches(parts)
        ids = table.column(_ROW_ID)
        out = m._configured("alerts", features).score(
            table.drop_columns([_ROW_ID]).rename_columns(names), backend, None)
        out = out.append_column(_ROW_ID, ids).cast(id_schema).rename_columns(plain_id.names)
        yield from out.to_batches()

    scored = spread.mapInArrow(score_partition, _spark_schema(plain_id))
    return scored.drop(_ROW_ID).toDF(*out_names)


def fit(spark_df: Any, pipeline: Pipeline, *, partitions: Optional[int] = None,
        progress: Union[None, bool, Callable[[int, int], Any]] = None) -> Model:
    """Fits ``pipeline`` on a Spark DataFrame: one fit per partition (repartitioned by the
    window stages' entity columns when there are window stages), merged on the driver. See
    the module documentation for which detectors merge exactly. ``progress``: a bar of the
    Spark tasks done (see :func:`progress`)."""
    features = json.dumps([f._spec() for f in pipeline.features])
    detector = json.dumps(pipeline.detector._spec())
    threshold = json.dumps(pipeline.threshold._spec())
    kind = json.loads(detector).get("kind")
    if kind in ("robust_z", "ensemble"):
        raise ParameterError(
            f"a {kind} detector cannot be fitted per partition and merged (medians and quantiles do not "
            "add up); fit it on a sample collected to the driver, or use IsolationForest, PcaResidual or Rarity")
    backend = pipeline.backend if pipeline.backend != "auto" else "cpu"
    keys = _common_entities(json.loads(features))
    names = list(spark_df.columns)
    df = spark_df.toDF(*[f"_c{i}" for i in range(len(names))])
    _check_columns(keys or [], names)
    keys = None if keys is None else [f"_c{names.index(k)}" for k in keys]
    if keys is None:
        df = df.repartition(1)
    elif keys:
        cols = [_quoted(k) for k in keys]
        df = df.repartition(partitions, *cols) if partitions else df.repartition(*cols)
    elif partitions:
        df = df.repartition(partitions)

    def fit_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parts = list(batches)
        if not parts or sum(b.num_rows for b in parts) == 0:
            return
        table = pa.Table.from_batches(parts)
        table = table.rename_columns(names)
        native = _native.fit(features, detector, threshold, table, backend, None)
        yield pa.RecordBatch.from_pydict({"model": [native.to_json()]})

    with _SparkProgress(spark_df, progress, "vigil fit (Spark tasks)"):
        rows = df.mapInArrow(fit_partition, "model string").collect()
    if not rows:
        raise ParameterError("the Spark DataFrame has no rows to fit on")
    models = [Model.from_json(r["model"], backend=pipeline.backend) for r in rows]
    merged = models[0]
    for m in models[1:]:
        merged = merged.merge(m)
    return merged


_GROUPS = itertools.count()


class _SparkProgress:
    """Polls the tasks of the jobs started in its ``with`` block (a Spark job group) and
    reports ``(done, total)`` to a tqdm bar or a callable."""

    def __init__(self, session: Any, enabled: Union[None, bool, Callable[[int, int], Any]], desc: str,
                 interval: float = 0.25) -> None:
        self._sc = _context(session) if enabled is not False else None
        self._interval = interval
        self._bar: Optional[Progress] = None
        self._report: Optional[Callable[[int, int], Any]] = None
        if self._sc is None:
            return
        if callable(enabled) and not isinstance(enabled, bool):
            self._report = enabled
        else:
            self._bar = Progress(enabled, desc, unit="tasks")
            self._report = self._bar.callback
        self._group = f"vigil-progress-{next(_GROUPS)}"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last = (-1, -1)

    def _poll(self) -> None:
        tracker = self._sc.statusTracker()
        done = total = 0
        for job in tracker.getJobIdsForGroup(self._group):
            info = tracker.getJobInfo(job)
            if info is None:
                continue
            stages = [tracker.getStageInfo(s) for s in info.stageIds]
            job_done = sum(s.numCompletedTasks for s in stages if s is not None)
            done += job_done
            # A finished job's stages that never ran were skipped (their shuffle output was
            # reused): only the tasks that ran count.
            total += job_done if info.status == "SUCCEEDED" else sum(s.numTasks for s in stages if s is not None)
        if (done, total) != self._last and total > 0:
            self._last = (done, total)
            self._report(done, total)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._poll()
            except Exception:  # a status read that fails never fails the job
                return

    def __enter__(self) -> "_SparkProgress":
        if self._report is None:
            return self
        self._old = (self._sc.getLocalProperty("spark.jobGroup.id"),
                     self._sc.getLocalProperty("spark.job.description"))
        self._sc.setJobGroup(self._group, "vigil", interruptOnCancel=False)
        self._thread = threading.Thread(target=self._run, name="vigil-spark-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._report is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._poll()        # the last counts: every task of a finished job
        except Exception:
            pass
        self._sc.setLocalProperty("spark.jobGroup.id", self._old[0])
        self._sc.setLocalProperty("spark.job.description", self._old[1])
        if self._bar is not None:
            self._bar.close()


def _context(session: Any) -> Any:
    """The SparkContext of a SparkSession or DataFrame (or the active session's), None on
    Spark Connect or without pyspark."""
    try:
        if session is None:
            from pyspark.sql import SparkSession

            session = SparkSession.getActiveSession()
        session = getattr(session, "sparkSession", session)
        return session.sparkContext
    except Exception:
        return None


def progress(session: Any = None, enabled: Union[None, bool, Callable[[int, int], Any]] = None,
             desc: str = "Spark tasks") -> Any:
    """A context manager that shows a tqdm bar of the Spark tasks done (of all stages of the
    jobs run inside it, e.g. an action on a :func:`score` result)::

        with vigil.spark.progress(spark):
            vigil.spark.score(df, model).write.parquet("scored.parquet")

    ``session``: a SparkSession or DataFrame (default: the active session). ``enabled``:
    None shows the bar in a terminal or notebook, True always, False never, or a callable
    ``(done, total)`` called instead of a bar. On Spark Connect there is no SparkContext to
    poll and it does nothing."""
    return _SparkProgress(session, enabled, desc)
