#!/usr/bin/env python3
"""Trains a logistic-regression classifier inside a Bulkhead job, with the Python standard library only.

Reads every CSV under /data (header row; the last column is the 0/1 label, the others numeric features),
trains with batch gradient descent, logs parameters and per-epoch metrics to the job's MLflow run through
the MLflow REST API (the job's only network path is the platform relay), and writes the model to /outputs:
model.json (weights and feature names) for any consumer.

Environment (set by the platform): MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, MLFLOW_RUN_ID.
Optional: EPOCHS (default 50), LEARNING_RATE (default 0.5).
"""
import csv
import glob
import json
import math
import os
import random
import sys
import time
import urllib.request

DATA_DIR = os.environ.get("BULKHEAD_DATA", "/data")
OUTPUTS_DIR = os.environ.get("BULKHEAD_OUTPUTS", "/outputs")


def mlflow(path, body):
    """POSTs to the MLflow REST API as the official client does (Bearer token, JSON body)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not uri or not run_id:
        return None
    body = dict(body, run_id=run_id)
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        print(f"mlflow {path}: HTTP {error.code} {error.read().decode()[:200]}", file=sys.stderr)
        return error.code


def load():
    rows, header = [], None
    for path in sorted(glob.glob(os.path.join(DATA_DIR, "**", "*.csv"), recursive=True)):
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            file_header = next(reader)
            header = header or file_header
            rows.extend([float(v) for v in row] for row in reader if row)
    if not rows:
        sys.exit(f"no CSV rows under {DATA_DIR}")
    return header, [r[:-1] for r in rows], [r[-1] for r in rows]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def main():
    epochs = int(os.environ.get("EPOCHS", "50"))
    rate = float(os.environ.get("LEARNING_RATE", "0.5"))
    header, xs, ys = load()
    features = len(xs[0])
    print(f"loaded {len(xs)} rows with {features} features from {DATA_DIR}")
    mlflow("runs/log-batch", {"params": [
        {"key": "epochs", "value": str(epochs)},
        {"key": "learning_rate", "value": str(rate)},
        {"key": "rows", "value": str(len(xs))},
        {"key": "model", "value": "logistic_regression"},
    ]})
    random.seed(0)
    weights = [0.0] * features
    bias = 0.0
    for epoch in range(epochs):
        grad_w = [0.0] * features
        grad_b = 0.0
        loss = 0.0
        correct = 0
        for x, y in zip(xs, ys):
            p = sigmoid(sum(w * v for w, v in zip(weights, x)) + bias)
            loss -= y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12))
            correct += int((p >= 0.5) == (y >= 0.5))
            for i, v in enumerate(x):
                grad_w[i] += (p - y) * v
            grad_b += p - y
        n = len(xs)
        weights = [w - rate * g / n for w, g in zip(weights, grad_w)]
        bias -= rate * grad_b / n
        now = int(time.time() * 1000)
        mlflow("runs/log-batch", {"metrics": [
            {"key": "loss", "value": loss / n, "timestamp": now, "step": epoch},
            {"key": "accuracy", "value": correct / n, "timestamp": now, "step": epoch},
        ]})
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch}: loss {loss / n:.4f} accuracy {correct / n:.3f}", flush=True)
    os.makedirs(OUTPUTS_DIR, exist_ok=True)
    with open(os.path.join(OUTPUTS_DIR, "model.json"), "w") as handle:
        json.dump({"kind": "logistic_regression", "features": header[:-1], "weights": weights, "bias": bias}, handle)
    print(f"wrote {os.path.join(OUTPUTS_DIR, 'model.json')}")


if __name__ == "__main__":
    main()
