"""Input and output conversion: anything that speaks Arrow in, a DataFrame out."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from kpiforge.exceptions import KpiInputError

Output = Literal["pandas", "arrow", "polars"]


def to_arrow(data: Any) -> Any:
    """Return an object exposing ``__arrow_c_stream__`` (or ``__arrow_c_array__``) for ``data``.

    pyarrow tables, record batches and readers, polars DataFrames and any object
    with the Arrow PyCapsule interface pass through untouched (no copy); pandas
    DataFrames are converted with ``pyarrow.Table.from_pandas``; a
    ``pyarrow.dataset`` Dataset or Scanner is read as a stream of batches.
    """
    if hasattr(data, "__arrow_c_stream__") and not _is_pandas(data):
        return data
    if hasattr(data, "__arrow_c_array__") and not _is_pandas(data):
        return data
    if _is_pandas(data):
        return _from_pandas(data)
    if hasattr(data, "to_reader"):  # pyarrow.dataset.Scanner
        return data.to_reader()
    if hasattr(data, "scanner"):  # pyarrow.dataset.Dataset
        return data.scanner().to_reader()
    raise KpiInputError(
        f"cannot read a {type(data).__module__}.{type(data).__name__} as a table: pass a pandas "
        "or polars DataFrame, a pyarrow Table/RecordBatchReader, or any object with "
        "__arrow_c_stream__"
    )


def row_count(data: Any) -> int | None:
    """The rows of a table, batch or polars DataFrame from :func:`to_arrow`; None for a stream.

    >>> row_count(pa.table({"x": [1, 2, 3]}))
    3
    """
    for attribute in ("num_rows", "height"):  # pyarrow, polars
        rows = getattr(data, attribute, None)
        if isinstance(rows, int) and rows >= 0:
            return rows
    return None


def read_table(data: Any) -> pa.Table:
    """The whole input as one pyarrow Table, for functions that read it several times
    (a stream can be read only once). Tables pass through without a copy."""
    if isinstance(data, pa.Table):
        return data
    source = to_arrow(data)
    if isinstance(source, pa.Table):
        return source
    return pa.RecordBatchReader.from_stream(source).read_all()


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def _from_pandas(df: Any) -> pa.Table:
    """A pandas DataFrame as a pyarrow Table. Named index levels are read as
    columns too (``df.set_index("responded_at")`` keeps its dates), unless a
    column has the same name; ``Period`` columns become their start timestamps."""
    import pandas as pd

    duplicated = df.columns[df.columns.duplicated()]
    if len(duplicated):
        name = duplicated[0]
        raise KpiInputError(
            f"the DataFrame has {int((df.columns == name).sum())} columns named {name!r}: "
            "rename or drop all but one",
            column=str(name),
            example=str(name),
        )
    levels = [name for name in df.index.names if isinstance(name, str) and name not in df.columns]
    if levels:
        df = df.reset_index(level=levels)
    periods = [name for name in df.columns if isinstance(df[name].dtype, pd.PeriodDtype)]
    if periods:
        df = df.assign(**{str(name): df[name].dt.to_timestamp() for name in periods})
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        # Find the column that failed, to name it and one of its values.
        for name in df.columns:
            try:
                pa.array(df[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                # Nulls (None, NaN, NaT) are missing values, not of another type.
                present = df[name][df[name].notna()]
                types = present.map(type)
                odd = present[types != types.mode().iloc[0]] if len(present) else present
                example = odd.iloc[0] if len(odd) else df[name].iloc[0]
                raise KpiInputError(
                    f"column '{name}' mixes value types (e.g. numbers and strings) and cannot "
                    f"be read: {len(odd)} rows differ from the rest (example: {example!r}). "
                    "Clean or convert the column first (pd.to_numeric, pd.to_datetime, astype).",
                    column=str(name),
                    count=len(odd),
                    example=repr(example),
                ) from err
        raise KpiInputError(f"could not read the pandas DataFrame: {err}") from err


def from_arrow(batch: pa.RecordBatch | pa.Table, output: Output) -> Any:
    """Turn the core's result into the requested DataFrame type."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if output == "arrow":
        return table
    if output == "pandas":
        return table.to_pandas(date_as_object=False)
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise KpiInputError(
        f"output={output!r} is not one of 'pandas', 'arrow', 'polars'", column="output"
    )
