#!/usr/bin/env python3
"""Independent attribution of the ChannelAttribution example paths.

Reads PathData.csv, groups the rows of one path (the file repeats paths),
and runs the ChannelAttribution package's first-order Markov model (a
simulation, with the seed given) and its heuristic models on the grouped
paths. Prints JSON: per channel, the conversions each model credits, and
the totals. crates/handoff-core/tests/attribution_check.rs compares
handoff's exact computation with it.

Usage: markov_check.py PATHDATA.csv SEED
"""

import contextlib
import importlib.metadata
import io
import json
import sys

import pandas as pd

# The package prints a banner on import; keep stdout for the JSON.
with contextlib.redirect_stdout(io.StringIO()):
    import ChannelAttribution as ca


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rows = pd.read_csv(path)
    grouped = rows.groupby("path", as_index=False)[["total_conversions", "total_null"]].sum()
    with contextlib.redirect_stdout(io.StringIO()):
        markov = ca.markov_model(
            grouped,
            var_path="path",
            var_conv="total_conversions",
            var_null="total_null",
            seed=seed,
            verbose=0,
            flg_pro=False,
        )
        heuristic = ca.heuristic_models(
            grouped, var_path="path", var_conv="total_conversions", flg_pro=False
        )
    channels = {}
    for _, r in markov.iterrows():
        channels.setdefault(r["channel_name"], {})["markov"] = float(r["total_conversions"])
    for _, r in heuristic.iterrows():
        c = channels.setdefault(r["channel_name"], {})
        c["first_touch"] = float(r["first_touch"])
        c["last_touch"] = float(r["last_touch"])
        c["linear"] = float(r["linear_touch"])
    out = {
        "paths": int(len(grouped)),
        "rows": int(len(rows)),
        "conversions": float(grouped["total_conversions"].sum()),
        "nulls": float(grouped["total_null"].sum()),
        "seed": seed,
        "package_version": importlib.metadata.version("ChannelAttribution"),
        "channels": channels,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
