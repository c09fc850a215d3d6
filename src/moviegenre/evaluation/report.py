"""A report folder: metrics.json, report.md and PNG plots (learning curves, per-genre F1, confusion, PR)."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from moviegenre.data.genres import counted, one_line
from moviegenre.data.readers import read_csv_file
from moviegenre.data.table import atomic_write_bytes, atomic_write_text, plural
from moviegenre.errors import DataError
from moviegenre.markdown import markdown_image, markdown_text

UNKNOWN_SHOWN = 10  # genres of the table the run does not predict, named in a note (a table may hold hundreds)
SUMMARY_KEYS = ("n", "micro_f1", "macro_f1", "weighted_f1", "samples_f1", "micro_precision", "micro_recall",
                "subset_accuracy", "hamming_loss", "map_macro")

def write_report(out: str | Path, metrics: dict, labels: np.ndarray, probabilities: np.ndarray,
                 genres: list[str], *, title: str, run_dir: str | Path | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    plots = [_per_genre_f1(out, metrics), _confusion(out, metrics), _pr_curves(out, labels, probabilities, genres)]
    curves = _learning_curves(out, Path(run_dir)) if run_dir else None
    plots += [curves] if isinstance(curves, Path) else []
    lines = [f"# {markdown_text(title)}", "", _scored(metrics), "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {metrics[k]:.4f} |" if isinstance(metrics[k], float) else f"| {k} | {metrics[k]} |"
              for k in SUMMARY_KEYS]
    lines += ["", "| genre | F1 | precision | recall | AP | support | threshold |", "|---|---|---|---|---|---|---|"]
    for genre, row in metrics["per_genre"].items():
        ap = "-" if row["ap"] is None else f"{row['ap']:.3f}"
        lines.append(f"| {markdown_text(genre)} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{ap} | {row['support']} | {row['threshold']:.3f} |")
    lines += [""] + [markdown_image(p) for p in plots] + ([f"Learning curves: not drawn ({markdown_text(curves)})."]
                                                          if isinstance(curves, str) else [])
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return out


def _scored(metrics: dict) -> str:
    """Which movies the numbers are about, and what the averages average over."""
    left = [f"{metrics[key]:,} {why}" for key, why in (("n_without_input", "without the inputs scored"),
                                                          ("n_without_known_genre", "without a genre the model knows"))
            if metrics.get(key)]
    trained = metrics.get("n_trained_on")
    averaged = (macro_coverage(metrics)
                or f"macro-F1, weighted-F1 and mAP average all {len(metrics['per_genre'])} genres")
    notes = [averaged] + [note for note in [unknown_genres(metrics, markdown_text)] if note]
    return (f"{metrics['n']:,} movies scored" + (f" ({', '.join(left)} left out)" if left else "")
            + (f", {trained:,} of them rows the run trained or validated on" if trained else "")
            + "".join(f". {note[0].upper()}{note[1:]}" for note in notes) + ".")


def macro_coverage(metrics: dict) -> str | None:
    """Where some of the model's genres are absent from the scored rows: that the averages over genres leave them out,
    so a macro-F1 of one well-predicted genre is not read as the model's."""
    present, genres = metrics["n_genres_present"], len(metrics["per_genre"])
    if present == genres:
        return None
    return (f"macro-F1, weighted-F1 and mAP cover only the {present} of {genres} genres present in these rows; "
            f"the micro scores count the predictions of all {genres}")


def unknown_genres(metrics: dict, name=one_line) -> str | None:
    """The labels of genres the model does not predict, which no score counts (the first ``UNKNOWN_SHOWN`` named; the
    metrics JSON has them all); ``name`` writes a genre."""
    unknown = metrics.get("unknown_genres")
    if not unknown:
        return None
    rows = plural(metrics["n_with_unknown_genre"], "row")
    line = (f"{plural(sum(unknown.values()), 'label')} in {rows} with the inputs scored name genres the run does not "
            f"predict, and are not scored: {counted(unknown, name, limit=UNKNOWN_SHOWN)}")
    spelled = {genre.casefold(): genre for genre in metrics["per_genre"]}
    other_case = [(genre, spelled[genre.casefold()]) for genre in unknown if genre.casefold() in spelled]
    if other_case:  # 'drama' is not 'Drama': genres are matched as written, in training too
        line += "; genres are matched as written: " + ", ".join(
            f"{name(genre)} is not the run's {name(known)}" for genre, known in other_case[:UNKNOWN_SHOWN])
    return line


def save_figure(fig, path: Path) -> Path:
    """The figure as a PNG at ``path``, written atomically (and closed): a killed run leaves no half plot, a bad path
    is one line."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A title, genre or description in a script (or with characters) the font lacks is drawn as boxes; the
        # warning for each missing glyph would only be noise on stderr.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _per_genre_f1(out: Path, metrics: dict) -> Path:
    per = metrics["per_genre"]
    genres = sorted(per, key=lambda g: per[g]["f1"])
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(genres) + 1))
    ax.barh(genres, [per[g]["f1"] for g in genres], color="#4c72b0")
    for i, g in enumerate(genres):
        ax.text(per[g]["f1"] + 0.01, i, f"{per[g]['f1']:.2f} (n={per[g]['support']})", va="center", fontsize=7)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("F1 at the tuned threshold")
    ax.set_title(f"per-genre F1 (micro {metrics['micro_f1']:.3f}, macro {metrics['macro_f1']:.3f})")
    return save_figure(fig, out / "per_genre_f1.png")


def _confusion(out: Path, metrics: dict) -> Path:
    """One 2x2 confusion matrix per genre (rows: truth, columns: prediction)."""
    per = metrics["per_genre"]
    genres = list(per)
    cols = 6
    rows = int(np.ceil(len(genres) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.8, rows * 1.9))
    n = metrics["n"]
    for ax, genre in zip(np.ravel(axes), genres):
        tp = per[genre]["true_positives"]
        fn = per[genre]["support"] - tp
        fp = per[genre]["predicted"] - tp
        matrix = np.array([[n - tp - fn - fp, fp], [fn, tp]])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                    color="white" if value > matrix.max() / 2 else "black")
        ax.set_title(genre, fontsize=8)
        ax.set_xticks([0, 1], ["no", "yes"], fontsize=6)
        ax.set_yticks([0, 1], ["no", "yes"], fontsize=6)
    for ax in np.ravel(axes)[len(genres):]:
        ax.axis("off")
    fig.suptitle("per-genre confusion (rows: true, columns: predicted)", fontsize=9)
    return save_figure(fig, out / "confusion_matrices.png")


def _pr_curves(out: Path, labels: np.ndarray, probabilities: np.ndarray, genres: list[str]) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5.5))
    cmap = plt.get_cmap("tab20")
    for g, genre in enumerate(genres):
        if labels[:, g].sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(labels[:, g], probabilities[:, g])
        ax.plot(recall, precision, lw=1, color=cmap(g % 20), label=genre)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall per genre")
    ax.legend(fontsize=6, ncol=2, loc="upper right")
    return save_figure(fig, out / "pr_curves.png")


def _learning_curves(out: Path, run_dir: Path) -> Path | str | None:
    """The learning curves' plot: the run's network's loss, and the validation micro-F1 of each network of the run
    (a fusion model's members and single-input networks keep their logs in subfolders); where a training log cannot
    be read, why (the report says so: the scores do not depend on it)."""
    logs = {}
    for name, path in [("", run_dir / "logs" / "metrics.csv"),
                       *((path.parent.parent.name, path) for path in sorted(run_dir.glob("*/logs/metrics.csv")))]:
        if not path.exists():
            continue
        try:
            log = read_csv_file(path, "unreadable training log", "")
        except DataError as error:
            return str(error)
        if "epoch" in log:
            logs[name] = log.groupby("epoch").mean(numeric_only=True)
    if "" not in logs:
        return None
    several = len(logs) > 1
    main = "member0" if any(name.startswith("member") for name in logs) else "fusion"  # as its subfolders are named
    fig, (loss_ax, f1_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for column in ("train_loss", "val_loss"):
        if column in logs[""]:
            loss_ax.plot(logs[""].index, logs[""][column], marker=".", label=column)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_title(f"loss ({main}'s network)" if several else "loss")
    loss_ax.legend()
    for name, per_epoch in logs.items():
        if "val_micro_f1" in per_epoch:
            f1_ax.plot(per_epoch.index, per_epoch["val_micro_f1"], marker=".", label=name or main,
                       **({} if several else {"color": "#55a868"}))
    f1_ax.set_xlabel("epoch")
    f1_ax.set_title("validation micro-F1" + (", each network" if several else ""))
    if several:
        f1_ax.legend(fontsize="small", ncol=2)
    return save_figure(fig, out / "learning_curves.png")
