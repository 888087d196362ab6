#!/usr/bin/env python3
"""Independent expected values for handoff's real-data tests.

Reads the raw CSVs of /work/shared/data (or $HANDOFF_SHARED_DIR/data) with
pandas, without any of handoff's code or mappings, and prints one JSON
object with the figures the Rust tests compare against:

- olist: MQA count per month of first contact, won count, distinct SDRs and
  SRs, MQA -> won conversion per origin (the empty origin is its own group,
  "(empty)"), won deals per month.
- maven: row counts per stage, the line numbers of rows without any date
  (the rows handoff must reject), opportunities (rows with an engage_date),
  won and lost counts and win rate per sales agent and per manager, median
  days engage -> close for won deals (overall and per manager) and for lost
  deals, won and lost counts per calendar quarter of close_date, won value.

Usage: python3 scripts/expected_real_data.py [DATA_DIR]
"""

import json
import os
import sys

import pandas as pd


def data_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    shared = os.environ.get("HANDOFF_SHARED_DIR")
    if shared:
        return os.path.join(shared, "data")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "shared", "data")


def olist(root):
    folder = os.path.join(root, "olist-marketing-funnel")
    # keep_default_na=False: an empty origin stays "" and is not NaN, so the
    # two kinds of missing channel ("" and "unknown") stay apart.
    mql = pd.read_csv(
        os.path.join(folder, "olist_marketing_qualified_leads_dataset.csv"),
        dtype=str,
        keep_default_na=False,
    )
    deals = pd.read_csv(
        os.path.join(folder, "olist_closed_deals_dataset.csv"),
        dtype=str,
        keep_default_na=False,
    )
    # Day-first, as the data README says; an explicit format, no guessing.
    mql["first"] = pd.to_datetime(mql["first_contact_date"], format="%d-%m-%Y")
    deals["won"] = pd.to_datetime(deals["won_date"], format="%d-%m-%Y %H:%M")

    per_month = mql.groupby(mql["first"].dt.strftime("%Y-%m")).size()
    won_per_month = deals.groupby(deals["won"].dt.strftime("%Y-%m")).size()

    mql["origin_group"] = mql["origin"].str.strip().replace("", "(empty)")
    won_ids = set(deals["mql_id"])
    mql["is_won"] = mql["mql_id"].isin(won_ids)
    by_origin = {}
    for origin, group in mql.groupby("origin_group"):
        n, w = len(group), int(group["is_won"].sum())
        by_origin[origin] = {"mqa": n, "won": w, "rate": w / n}

    joined = deals.merge(mql[["mql_id", "first"]], on="mql_id", how="left")
    early = joined[joined["won"] < joined["first"]]["mql_id"].tolist()

    return {
        "mqa_total": len(mql),
        "mqa_per_month": {k: int(v) for k, v in per_month.items()},
        "won_total": len(deals),
        "won_per_month": {k: int(v) for k, v in won_per_month.items()},
        "distinct_sdr": int(deals["sdr_id"].nunique()),
        "distinct_sr": int(deals["sr_id"].nunique()),
        "conversion_by_origin": by_origin,
        "mqa_to_won": len(deals) / len(mql),
        "won_before_first_contact": early,
    }


def rates(frame):
    """Opportunities, won, lost and win rate of a group of pipeline rows."""
    won = int((frame["deal_stage"] == "Won").sum())
    lost = int((frame["deal_stage"] == "Lost").sum())
    return {
        "opportunities": int(frame["engage"].notna().sum()),
        "won": won,
        "lost": lost,
        "win_rate": won / (won + lost) if won + lost else None,
    }


def median_or_none(series):
    return float(series.median()) if len(series) else None


def maven(root):
    folder = os.path.join(root, "maven-crm-sales-opportunities")
    pipe = pd.read_csv(
        os.path.join(folder, "sales_pipeline.csv"), dtype=str, keep_default_na=False
    )
    teams = pd.read_csv(
        os.path.join(folder, "sales_teams.csv"), dtype=str, keep_default_na=False
    )
    accounts = pd.read_csv(
        os.path.join(folder, "accounts.csv"), dtype=str, keep_default_na=False
    )
    # Line numbers as a text editor shows them: header is line 1, no quoted
    # newlines in this file.
    pipe["line"] = pipe.index + 2
    pipe["engage"] = pd.to_datetime(pipe["engage_date"].replace("", None), format="%Y-%m-%d")
    pipe["close"] = pd.to_datetime(pipe["close_date"].replace("", None), format="%Y-%m-%d")
    pipe = pipe.merge(teams, on="sales_agent", how="left")

    undated = pipe[pipe["engage"].isna() & pipe["close"].isna()]
    dated = pipe.drop(undated.index)
    closed = dated[dated["deal_stage"].isin(["Won", "Lost"])]
    won = closed[closed["deal_stage"] == "Won"].copy()
    lost = closed[closed["deal_stage"] == "Lost"].copy()
    won["days"] = (won["close"] - won["engage"]).dt.days
    lost["days"] = (lost["close"] - lost["engage"]).dt.days

    quarter = lambda d: f"{d.year}Q{(d.month - 1) // 3 + 1}"
    account_ids = set(accounts["account"]) | {
        a if a else "opp:" + o for a, o in zip(dated["account"], dated["opportunity_id"])
    }

    return {
        "rows": len(pipe),
        "rows_per_stage": {k: int(v) for k, v in pipe.groupby("deal_stage").size().items()},
        "rejected_lines": [int(x) for x in undated["line"]],
        "events": int(dated["engage"].notna().sum()) + len(closed),
        "accounts_total": len(account_ids),
        "per_agent": {a: rates(g) for a, g in dated.groupby("sales_agent")},
        "per_manager": {m: rates(g) for m, g in dated.groupby("manager")},
        "won": len(won),
        "lost": len(lost),
        "won_value": float(won["close_value"].astype(float).sum()),
        "median_days_won": median_or_none(won["days"]),
        "median_days_lost": median_or_none(lost["days"]),
        "median_days_won_per_manager": {
            m: median_or_none(g["days"]) for m, g in won.groupby("manager")
        },
        "won_per_quarter": {k: int(v) for k, v in won.groupby(won["close"].map(quarter)).size().items()},
        "lost_per_quarter": {
            k: int(v) for k, v in lost.groupby(lost["close"].map(quarter)).size().items()
        },
    }


def main():
    root = data_dir()
    if not os.path.isdir(root):
        print(f"expected_real_data.py: no data folder at {root}", file=sys.stderr)
        sys.exit(3)
    print(json.dumps({"olist": olist(root), "maven": maven(root)}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
