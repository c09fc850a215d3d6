"""``moviegenre serve | explain``: the web service and page, and explanations on the command line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from moviegenre.cli.app import app, console, non_empty_path
from moviegenre.cli.models import RunDir


@app.command("serve")
def serve(run_dir: RunDir = None,
          host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
          workers: Annotated[int | None, typer.Option(help="Model worker threads (default: one per core).",
                                                      min=1)] = None,
          access_log: Annotated[bool, typer.Option(help="Print a line per request (client, method, path, "
                                                        "status).")] = True) -> None:
    """Serve the page at / and the API (/predict, /predict/batch, /explain, /compare, /model, /health, /docs)."""
    import torch
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from moviegenre.serving.app import create_app
    from moviegenre.serving.transport import MAX_CONNECTIONS, DeadlineH11

    _check_can_listen(host, port)  # before the model loads (seconds), and before a line says it is serving
    # Requests run in parallel on the worker threads; intra-op threads on top of them only contend for the cores.
    torch.set_num_threads(1)
    service = create_app(run_dir, workers)
    console.print(f"serving {service.state.service.predictor.model_name} on http://{host}:{port}/ (API docs: /docs)",
                  markup=False)
    # Uvicorn's start-up lines stay quiet (the line above says where it serves); requests are logged.
    logs = copy.deepcopy(LOGGING_CONFIG)
    logs["loggers"]["uvicorn.error"]["level"] = "WARNING"
    uvicorn.run(service, host=host, port=port, log_config=logs, log_level=None, access_log=access_log,
                http=DeadlineH11, limit_concurrency=MAX_CONNECTIONS)


def _check_can_listen(host: str, port: int) -> None:
    """One line where ``host:port`` cannot be listened on (a port in use, an address not this machine's), instead
    of Uvicorn's log line and exit code 3 after a line saying the service is up."""
    import socket

    from moviegenre.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Uvicorn binds: TIME_WAIT is no obstacle
            probe.bind(address)
    except OSError as error:  # socket.gaierror included
        raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror or error}): give another --port, or "
                          "stop what uses it") from None


@app.command("explain")
def explain(run_dir: RunDir = None,
            poster: Annotated[Path | None, typer.Option(parser=non_empty_path,
                                                        help="Poster image (JPEG, PNG, WebP or GIF).")] = None,
            description: Annotated[str | None, typer.Option(help="The movie's short description.")] = None,
            title: Annotated[str | None, typer.Option(help="The movie's title (optional; read beside the poster and/or "
                                                           "description as 'predict' reads it, not explained).")] = None,
            genre: Annotated[list[str] | None, typer.Option(
                help="A genre to explain (repeatable; default: the --top most probable).")] = None,
            top: Annotated[int, typer.Option(help="Explain this many most probable genres.")] = 3,
            out: Annotated[Path, typer.Option(parser=non_empty_path,
                                              help="Folder for overlay-<genre>.png and words.csv.")] = Path("explain")
            ) -> None:
    """Why the model predicts its top genres (or --genre): poster heat maps (PNG overlays) and a score per
    description word."""
    from moviegenre.data.images import load_poster, read_image_file
    from moviegenre.data.table import check_not_input, check_out_folder, clean_description
    from moviegenre.errors import ConfigError, utf8_text
    from moviegenre.serving.explain import Explainer, explanation_files, write_explanation
    from moviegenre.serving.predictor import Predictor, require_input

    # Every argument is checked before the model loads (seconds): a mistake is reported at once, not after that wait.
    if top < 1:
        raise ConfigError(f"--top {top}: give at least 1")
    check_out_folder(out)
    # What an earlier run wrote is replaced, and what this run writes is among it or a new file: the poster must be
    # none of them.
    check_not_input([poster] if poster else [], explanation_files(out))
    require_input(poster is not None, bool(clean_description(utf8_text(description, "description"))))
    utf8_text(title, "title")
    poster_bytes = read_image_file(poster) if poster else None
    if poster_bytes is not None:  # decoded here, so that a non-image or a bomb is named by its file, not "poster"
        load_poster(poster_bytes, name=str(poster))
    predictor = Predictor(run_dir)
    explanation = Explainer(predictor).explain(poster_bytes, description, top=top, genres=genre, title=title)
    prediction = explanation.prediction
    console.print(f"genres: {', '.join(prediction['genres']) or '(none above threshold)'}  "
                  f"[model {prediction['model']}]", markup=False, highlight=False)
    overlays, words = write_explanation(explanation, out, predictor.genres)
    for explained, path in overlays.items():
        hottest = explanation.hottest(explained)
        console.print(f"{explained}: p={prediction['probabilities'][explained]:.3f}  heat map -> {path} "
                      + (f"(hottest at {hottest}: squares greyed there lower p by "
                         f"{explanation.levels(explained)[1]:.3f} on average)" if hottest else
                         "(no region of the poster raises it)"), markup=False)
    if words is not None:
        console.print("probability drop when the word is deleted:")
        table = Table("word", *map(escape, explanation.genres))
        for row in explanation.word_table():
            table.add_row(row["word"], *(f"{row[g]:+.3f}" for g in explanation.genres))
        console.print(table)
        console.print(f"word table -> {words}", markup=False)
