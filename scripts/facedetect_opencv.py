#!/usr/bin/env python3
"""Record what OpenCV's cascade detector finds, for the Go detector's parity test.

Runs OpenCV 4.x (Debian's python3-opencv) with nagadomi's recipe on every
JPEG/PNG in a folder: cv2.imread, cvtColor(BGR2GRAY), equalizeHist,
CascadeClassifier.detectMultiScale2(scaleFactor=1.1, minNeighbors=5,
minSize=(24, 24)). Writes JSON with the boxes and neighbour counts of every
image, and for PNG images (whose pixels Go decodes identically) SHA-256
hashes of the grey image, the equalised image and every pyramid level as
detectMultiScale builds it (the sizes rounded as OpenCV rounds them, resized
with INTER_LINEAR_EXACT), so the Go test can check those byte for byte.

    /usr/bin/python3 scripts/facedetect_opencv.py facedetect/testdata/scenes \
        facedetect/testdata/opencv_scenes.json

Use the system Python (/usr/bin/python3): python3-opencv is a Debian
package. --timing N instead times detectMultiScale on one thread (median of
N runs per image, preprocessing excluded) for the speed comparison.
"""
import argparse
import hashlib
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASCADE = os.path.join(HERE, "..", "facedetect", "lbpcascade_animeface.xml")


def levels(w, h, win=24, scale_factor=1.1, min_size=24):
    """detectMultiScaleNoGrouping's pyramid: (factor as float32, width, height)."""
    out = []
    factor = 1.0
    while True:
        ww = int(np.rint(win * factor))
        if ww > w or ww > h:
            break
        if ww >= min_size:
            sc = np.float32(factor)
            out.append((sc, int(np.rint(np.float32(w) / sc)), int(np.rint(np.float32(h) / sc))))
        factor *= scale_factor
    return out


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--cascade", default=CASCADE)
    ap.add_argument("--timing", type=int, default=0, help="time detection: runs per image (one thread)")
    args = ap.parse_args()

    cascade = cv2.CascadeClassifier(args.cascade)
    if cascade.empty():
        sys.exit("cannot load " + args.cascade)
    names = sorted(n for n in os.listdir(args.dir) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    if args.timing:
        cv2.setNumThreads(1)
        total = []
        for n in names:
            g = cv2.equalizeHist(cv2.cvtColor(cv2.imread(os.path.join(args.dir, n)), cv2.COLOR_BGR2GRAY))
            ts = []
            for _ in range(args.timing):
                t0 = time.perf_counter()
                cascade.detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
                ts.append(time.perf_counter() - t0)
            total.append(statistics.median(ts))
        px = sum(cv2.imread(os.path.join(args.dir, n)).shape[0] * cv2.imread(os.path.join(args.dir, n)).shape[1] for n in names)
        print("opencv %s, 1 thread: %d images, %.1f Mpixel, sum of per-image medians %.1f ms (%.2f ms/Mpixel)"
              % (cv2.__version__, len(names), px / 1e6, sum(total) * 1e3, sum(total) * 1e3 / (px / 1e6)))
        return

    with open(args.cascade, "rb") as f:
        cascade_sha = hashlib.sha256(f.read()).hexdigest()
    images = {}
    for n in names:
        img = cv2.imread(os.path.join(args.dir, n), cv2.IMREAD_COLOR)
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        eq = cv2.equalizeHist(grey)
        rects, neighbours = cascade.detectMultiScale2(eq, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        faces = [[int(x), int(y), int(w), int(h), int(k)] for (x, y, w, h), k in zip(rects, neighbours)]
        entry = {"faces": sorted(faces)}
        if n.lower().endswith(".png"):
            lv = []
            for sc, w, h in levels(eq.shape[1], eq.shape[0]):
                # As FeatureEvaluator::setImage calls it in OpenCV 4 (INTER_LINEAR_EXACT).
                r = cv2.resize(eq, (w, h), fx=1.0 / float(sc), fy=1.0 / float(sc), interpolation=cv2.INTER_LINEAR_EXACT)
                lv.append([w, h, sha(r)])
            entry["grey"] = sha(grey)
            entry["equalized"] = sha(eq)
            entry["levels"] = lv
        images[n] = entry
    doc = {
        "opencv": cv2.__version__,
        "cascade_sha256": cascade_sha,
        "recipe": "imread, cvtColor BGR2GRAY, equalizeHist, detectMultiScale2(scaleFactor=1.1, minNeighbors=5, minSize=(24,24)); faces are [x, y, w, h, neighbours]",
        "images": images,
    }
    s = json.dumps(doc, indent=1, sort_keys=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(s + "\n")
    else:
        print(s)
    nf = sum(len(e["faces"]) for e in images.values())
    print("%d images, %d faces" % (len(images), nf), file=sys.stderr)


if __name__ == "__main__":
    main()
