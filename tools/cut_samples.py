#!/usr/bin/env python3
"""Regenerates datasets/samples/ from the real data in ../shared/datasets.

The samples are small cuts of the real files in their ORIGINAL formats, shipped with the repo
for the tests and as the demo's default dataset. Every file is copied byte for byte (whole
lines / whole images); only the index files (y/subject, GT csv, COCO json) are reduced to the
kept entries. Standard library only.

    python3 tools/cut_samples.py [--shared ../shared/datasets] [--out datasets/samples]
"""

import argparse
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

UCI_SIGNALS = [f"{kind}_{axis}" for kind in ("body_acc", "body_gyro", "total_acc")
               for axis in "xyz"]
UCI_PER_CLASS = {"train": 30, "test": 20}

GTSRB_TRAIN_CLASSES = ["00000", "00001", "00002"]
GTSRB_TRAIN_PER_CLASS = 5
GTSRB_TEST_IMAGES = 10
# Original-size images whose PPM header carries a '#' comment line (class 00021).
GTSRB_COMMENTED = ("00021", ["00008_00002.ppm", "00008_00013.ppm"])

COCO_IMAGE_IDS = [
    22192,   # dog
    22892,   # dog, 500x334
    183709,  # persons and cars, portrait 480x640
    349860,  # persons and cars
    377575,  # dog, portrait 426x640
    217285,  # persons, one of them a crowd annotation
]


def read_lines(path):
    """Lines with their original endings, as bytes (keeps the number text verbatim)."""
    return path.read_bytes().splitlines(keepends=True)


def cut_uci_har(src_root, dst_root):
    src = src_root / "uci-har" / "UCI HAR Dataset"
    dst = dst_root / "uci-har" / "UCI HAR Dataset"
    if dst.exists():
        shutil.rmtree(dst)
    for split, per_class in UCI_PER_CLASS.items():
        labels = read_lines(src / split / f"y_{split}.txt")
        # The first `per_class` windows of every class, in original file order.
        seen, keep = {}, []
        for i, line in enumerate(labels):
            c = int(line)
            if seen.get(c, 0) < per_class:
                seen[c] = seen.get(c, 0) + 1
                keep.append(i)
        files = [Path(split) / f"y_{split}.txt", Path(split) / f"subject_{split}.txt"]
        files += [Path(split) / "Inertial Signals" / f"{s}_{split}.txt" for s in UCI_SIGNALS]
        for rel in files:
            lines = read_lines(src / rel)
            assert len(lines) == len(labels), rel
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / rel).write_bytes(b"".join(lines[i] for i in keep))
        print(f"uci-har {split}: {len(keep)} windows {dict(sorted(seen.items()))}")
    shutil.copyfile(src / "activity_labels.txt", dst / "activity_labels.txt")
    (dst / "README.txt").write_text(
        "Sample of the UCI HAR Dataset (Reyes-Ortiz et al.), cut by tools/cut_samples.py from\n"
        "../shared/datasets/uci-har: the first 30 windows of each of the 6 activities of the\n"
        "train split (180) and the first 20 of each of the test split (120), in original order.\n"
        "Lines are copied verbatim (number text as in the source: 4-5 significant digits).\n"
        "Only the raw inertial signals, labels, subjects and activity_labels.txt are kept.\n")


def copy_csv_rows(src_csv, dst_csv, keep):
    """Header plus the rows whose filename is in `keep`, line endings untouched."""
    lines = read_lines(src_csv)
    rows = [l for l in lines[1:] if l.split(b";")[0].decode() in keep]
    dst_csv.parent.mkdir(parents=True, exist_ok=True)
    dst_csv.write_bytes(lines[0] + b"".join(rows))
    return rows


def cut_gtsrb(src_root, dst_root):
    src = src_root / "gtsrb" / "GTSRB-32x32"
    dst = dst_root / "gtsrb"
    if dst.exists():
        shutil.rmtree(dst)
    for cls in GTSRB_TRAIN_CLASSES:
        d = src / "Final_Training" / "Images" / cls
        names = [l.split(b";")[0].decode() for l in read_lines(d / f"GT-{cls}.csv")[1:]]
        keep = names[:GTSRB_TRAIN_PER_CLASS]
        out = dst / "Final_Training" / "Images" / cls
        copy_csv_rows(d / f"GT-{cls}.csv", out / f"GT-{cls}.csv", set(keep))
        for n in keep:
            shutil.copyfile(d / n, out / n)
    test_csv = src / "Final_Test" / "GT-final_test.csv"
    names = [l.split(b";")[0].decode() for l in read_lines(test_csv)[1:]]
    keep = names[:GTSRB_TEST_IMAGES]
    copy_csv_rows(test_csv, dst / "Final_Test" / "GT-final_test.csv", set(keep))
    (dst / "Final_Test" / "Images").mkdir(parents=True, exist_ok=True)
    for n in keep:
        shutil.copyfile(src / "Final_Test" / "Images" / n, dst / "Final_Test" / "Images" / n)
    print(f"gtsrb: {len(GTSRB_TRAIN_CLASSES)} x {GTSRB_TRAIN_PER_CLASS} train, {len(keep)} test")

    orig = src_root / "gtsrb" / "GTSRB-original-subset" / "Final_Training" / "Images"
    cls, files = GTSRB_COMMENTED
    base = dst_root / "gtsrb-original"
    if base.exists():
        shutil.rmtree(base)
    out = base / "Final_Training" / "Images" / cls
    rows = copy_csv_rows(orig / cls / f"GT-{cls}.csv", out / f"GT-{cls}.csv", set(files))
    assert len(rows) == len(files)
    for n in files:
        assert b"\n#" in (orig / cls / n).read_bytes()[:64], f"{n} has no header comment"
        shutil.copyfile(orig / cls / n, out / n)
    print(f"gtsrb-original: {len(files)} images with a PPM header comment")


def cut_coco(src_root, dst_root):
    src = src_root / "coco" / "coco-mini"
    dst = dst_root / "coco"
    if dst.exists():
        shutil.rmtree(dst)
    with open(src / "annotations" / "instances_val2017.json") as f:
        full = json.load(f)
    ids = set(COCO_IMAGE_IDS)
    reduced = {
        "info": full["info"],
        "licenses": full["licenses"],
        "images": [im for im in full["images"] if im["id"] in ids],
        "annotations": [a for a in full["annotations"] if a["image_id"] in ids],
        "categories": full["categories"],
    }
    assert len(reduced["images"]) == len(ids)
    (dst / "annotations").mkdir(parents=True)
    with open(dst / "annotations" / "instances_val2017.json", "w") as f:
        json.dump(reduced, f)
    (dst / "val2017").mkdir()
    for im in reduced["images"]:
        shutil.copyfile(src / "val2017" / im["file_name"], dst / "val2017" / im["file_name"])
    crowd = sum(a["iscrowd"] for a in reduced["annotations"])
    print(f"coco: {len(reduced['images'])} images, {len(reduced['annotations'])} annotations "
          f"({crowd} crowd)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, default=REPO / "datasets" / "samples")
    a = p.parse_args()
    cut_uci_har(a.shared, a.out)
    cut_gtsrb(a.shared, a.out)
    cut_coco(a.shared, a.out)


if __name__ == "__main__":
    main()
