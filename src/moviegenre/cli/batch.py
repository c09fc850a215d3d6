"""``moviegenre predict-table``: label a whole catalogue, streamed and resumable, locally or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from moviegenre.cli.app import app, console, non_empty_path
from moviegenre.data.table import plural


@app.command("predict-table")
def predict_table(table: Annotated[Path, typer.Argument(parser=non_empty_path,
                                                        help="Movie table to label (genres optional).")],
                  out: Annotated[Path, typer.Option("--out", parser=non_empty_path,
                                                    help="predictions .parquet or .csv")],
                  run_dir: Annotated[Path | None, typer.Option("--run", parser=non_empty_path,
                                                               help="Run folder (default: packaged).")] = None,
                  batch_size: Annotated[int, typer.Option(help="Rows per batch (and per resumable part).")] = 4096,
                  engine: Annotated[str, typer.Option(help="local, or ray (Ray Data on the cluster in RAY_ADDRESS, "
                                                           "else a local one).")] = "local",
                  workers: Annotated[int | None, typer.Option(help="Ray actors (--engine ray; default: one fewer "
                                                                   "than the cluster's CPUs).")] = None,
                  restart: Annotated[bool, typer.Option(help="Drop an interrupted run's parts; start over.")] = False,
                  progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True) -> None:
    """Predict genres for every row of a table in bounded memory; a killed run continues where it stopped."""
    from moviegenre.serving.batch import predict_file, written_rows

    predict_file(table, out, run_dir, batch_size=batch_size, engine=engine, workers=workers, restart=restart,
                 progress=progress, warn=lambda line: typer.echo(f"warning: {line}", err=True))
    console.print(f"wrote {plural(written_rows(out), 'prediction')} to {out}", markup=False)
