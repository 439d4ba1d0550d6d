"""Slow, obviously right twins of the diagnostics kernels (same names), and reference
computations of the diagnostics themselves, written the direct way."""

from __future__ import annotations

import numpy as np
import pandas as pd


def history_nodes(a: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, int]:
    """Code = order of first appearance of the tuple of earlier treatments in the subject."""
    seen: dict[tuple, int] = {(): 0}
    out = np.empty(a.size, dtype=np.int64)
    for g in range(starts.size - 1):
        history: tuple = ()
        for i in range(starts[g], starts[g + 1]):
            out[i] = seen[history]
            history = (*history, int(a[i]))
            if history not in seen:
                seen[history] = len(seen)
    return out, len(seen)


def recent_history(a: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
    out = np.empty(a.size, dtype=np.int64)
    for g in range(starts.size - 1):
        rows = list(range(starts[g], starts[g + 1]))
        for pos, i in enumerate(rows):
            earlier = [int(a[j]) for j in rows[max(0, pos - k) : pos]] if k else []
            bits = sum(v << b for b, v in enumerate(reversed(earlier)))
            out[i] = len(earlier) * (1 << k) + bits
    return out


def stratified_mean_differences(
    X, w, arm, time_index, subject_start, rows, stratum_starts, time_strata, n_lags
):
    """Pair every compared row with each of its subject's earlier rows, then group by pandas."""
    n_times = time_strata.size - 1
    p = X.shape[1]
    stratum_of = np.empty(rows.size, dtype=np.int64)
    for h in range(stratum_starts.size - 1):
        stratum_of[stratum_starts[h] : stratum_starts[h + 1]] = h
    records = []
    for r, i in enumerate(rows):
        for j in range(subject_start[i], i + 1):
            d = time_index[i] - time_index[j]
            if d < n_lags:
                records.append((stratum_of[r], time_index[i], d, arm[i], w[i], *X[j]))
    xs = [f"x{k}" for k in range(p)]
    pairs = pd.DataFrame(records, columns=["h", "t", "d", "arm", "w", *xs])
    diff_u = np.zeros((n_times, n_lags, p))
    size_u = np.zeros((n_times, n_lags))
    diff_w = np.zeros((n_times, n_lags, p))
    size_w = np.zeros((n_times, n_lags))
    n_strata = np.zeros((n_times, n_lags), dtype=np.int64)
    count = np.zeros((n_times, n_lags, 2))
    sx = np.zeros((n_times, n_lags, 2, p))
    sxx = np.zeros((n_times, n_lags, 2, p))
    for (_h, t, d), cell in pairs.groupby(["h", "t", "d"]):
        arms = [cell[cell["arm"] == g] for g in (0, 1)]
        for g, part in enumerate(arms):
            count[t, d, g] += len(part)
            sx[t, d, g] += part[xs].sum().to_numpy()
            sxx[t, d, g] += (part[xs] ** 2).sum().to_numpy()
        if len(arms[0]) and len(arms[1]):
            n_strata[t, d] += 1
            n_h = len(cell)
            size_u[t, d] += n_h
            diff_u[t, d] += n_h * (arms[1][xs].mean() - arms[0][xs].mean()).to_numpy()
            w0, w1 = arms[0]["w"].sum(), arms[1]["w"].sum()
            if w0 > 0 and w1 > 0:
                size_w[t, d] += w0 + w1
                m1 = np.average(arms[1][xs], axis=0, weights=arms[1]["w"])
                m0 = np.average(arms[0][xs], axis=0, weights=arms[0]["w"])
                diff_w[t, d] += (w0 + w1) * (m1 - m0)
    return diff_u, size_u, diff_w, size_w, n_strata, count, sx, sxx


# ---------------------------------------------------------------------------------------------
# the diagnostics, the direct way


def _var(x: np.ndarray, binary: bool) -> float:
    if binary:
        p = x.mean()
        return p * (1 - p)
    return x.var(ddof=1)


def _wvar(x: np.ndarray, w: np.ndarray) -> float:
    m = np.average(x, weights=w)
    return np.sum(w * (x - m) ** 2) / (w.sum() - np.sum(w**2) / w.sum())


def _wks(x1, w1, x0, w0) -> float:
    grid = np.unique(np.concatenate([x1, x0]))
    f1 = np.array([w1[x1 <= g].sum() for g in grid]) / w1.sum()
    f0 = np.array([w0[x0 <= g].sum() for g in grid]) / w0.sum()
    return float(np.max(np.abs(f1 - f0)))


def balance_reference(
    df: pd.DataFrame, treatment: str, covariates, w: np.ndarray, by: str, rows: np.ndarray
) -> pd.DataFrame:
    """SMD / VR / KS per time with loops over times; ``rows``: boolean mask of compared rows."""
    out = []
    frame = df[rows]
    wr = w[rows]
    for t in np.unique(frame[by]):
        at = (frame[by] == t).to_numpy()
        a = frame[treatment].to_numpy()[at]
        if a.min() == a.max():
            continue
        wt = wr[at]
        for c in covariates:
            x = frame[c].to_numpy(dtype=float)[at]
            binary = bool(np.isin(x, [0.0, 1.0]).all())
            x1, x0, w1, w0 = x[a == 1], x[a == 0], wt[a == 1], wt[a == 0]
            sd = np.sqrt((_var(x1, binary) + _var(x0, binary)) / 2)
            smd_u = (x1.mean() - x0.mean()) / sd
            smd_w = (np.average(x1, weights=w1) - np.average(x0, weights=w0)) / sd
            out.append((c, t, "smd", smd_u, smd_w))
            if not binary:
                out.append(
                    (c, t, "vr", x1.var(ddof=1) / x0.var(ddof=1), _wvar(x1, w1) / _wvar(x0, w0))
                )
            ks_u = _wks(x1, np.ones_like(x1), x0, np.ones_like(x0))
            out.append((c, t, "ks", ks_u, _wks(x1, w1, x0, w0)))
    return pd.DataFrame(out, columns=["covariate", by, "stat", "unweighted", "weighted"])


def history_balance_reference(
    df: pd.DataFrame,
    *,
    id: str,
    time: str,
    treatment: str,
    covariates,
    w: np.ndarray,
    risk_set: bool,
) -> pd.DataFrame:
    """Jackson's stratified differences with string histories and merges, per (t, t')."""
    data = df.assign(_w=w).sort_values([id, time], kind="stable")
    a = data[treatment].astype(int)
    data["_hist"] = (
        a.astype(str)
        .groupby(data[id])
        .transform(lambda s: ("H" + s.cumsum()).shift(fill_value="H"))
    )
    data["_before"] = a.groupby(data[id]).cumsum() - a
    compared = data[data["_before"] == 0] if risk_set else data
    times = np.sort(data[time].unique())
    out = []
    for t in times:
        at = compared[compared[time] == t]
        for t_prime in times[times <= t]:
            earlier = data.loc[data[time] == t_prime, [id, *covariates]]
            merged = at[[id, treatment, "_w", "_hist"]].merge(earlier, on=id, suffixes=("", "_cov"))
            if merged.empty:
                continue
            for c in covariates:
                x = merged[c].to_numpy(dtype=float)
                arm = merged[treatment].to_numpy()
                binary = bool(np.isin(x, [0.0, 1.0]).all())
                need = 1 if binary else 2  # rows for an arm's variance to be defined
                arms = [g for g in (0, 1) if (arm == g).sum() >= need]
                sd = np.sqrt(np.mean([_var(x[arm == g], binary) for g in arms])) if arms else np.nan
                num_u = num_w = den_u = den_w = 0.0
                n_strata = 0
                for _, s in merged.assign(_x=x).groupby("_hist"):
                    s1, s0 = s[s[treatment] == 1], s[s[treatment] == 0]
                    if len(s1) and len(s0):
                        n_strata += 1
                        d_u = s1["_x"].mean() - s0["_x"].mean()
                        d_w = np.average(s1["_x"], weights=s1["_w"]) - np.average(
                            s0["_x"], weights=s0["_w"]
                        )
                        num_u += len(s) * d_u
                        den_u += len(s)
                        num_w += s["_w"].sum() * d_w
                        den_w += s["_w"].sum()
                if n_strata:
                    out.append(
                        (c, t, t_prime, num_u / den_u, num_w / den_w, sd, n_strata, int(den_u))
                    )
    return pd.DataFrame(
        out,
        columns=[
            "covariate",
            time,
            "covariate_time",
            "mean_diff_u",
            "mean_diff_w",
            "sd",
            "n_strata",
            "n_rows",
        ],
    )
