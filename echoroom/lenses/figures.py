"""Evaluation and data figures (Altair specs saved as PNG with vl-convert, offline)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import polars as pl

from echoroom.labels import LABELS


def save_png(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    import vl_convert

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(vl_convert.vegalite_to_png(chart.to_dict(), scale=scale))
    return path


def confusion(matrix: list[list[int]], title: str, labels=LABELS) -> alt.Chart:
    rows = []
    for i, true in enumerate(labels):
        total = sum(matrix[i]) or 1
        for j, pred in enumerate(labels):
            rows.append({"true": true, "predicted": pred, "count": matrix[i][j], "share": matrix[i][j] / total})
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X("predicted:N", sort=list(labels)), y=alt.Y("true:N", sort=list(labels)))
    heat = base.mark_rect().encode(color=alt.Color("share:Q", scale=alt.Scale(scheme="blues"), title="row share"))
    text = base.mark_text(fontSize=9).encode(text="count:Q")
    return (heat + text).properties(title=title, width=360, height=360)


def distributions(true_counts: dict[str, int], pred_counts: dict[str, int], title: str) -> alt.Chart:
    rows = [{"label": k, "which": "true", "count": v} for k, v in true_counts.items()]
    rows += [{"label": k, "which": "predicted", "count": v} for k, v in pred_counts.items()]
    return alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("label:N", sort=list(LABELS)), xOffset="which:N", y="count:Q", color="which:N",
    ).properties(title=title, width=420, height=220)


def per_class(stats: dict[str, dict[str, float]], title: str) -> alt.Chart:
    rows = [{"label": k, "metric": m, "value": v[m]} for k, v in stats.items() for m in ("precision", "recall", "f1")]
    return alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("label:N", sort=list(LABELS)), xOffset="metric:N", y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])),
        color="metric:N").properties(title=title, width=420, height=220)


def reliability(bins: list[dict], ece: float, title: str) -> alt.Chart:
    points = alt.Chart(alt.Data(values=bins)).mark_line(point=True).encode(
        x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["count:Q"])
    diagonal = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    return (diagonal + points).properties(title=f"{title} (ECE {ece:.3f})", width=260, height=260)


def label_counts(frame: pl.DataFrame, title: str) -> alt.Chart:
    """Bars of a frame with columns label, count, stage (e.g. before / after balancing)."""
    return alt.Chart(alt.Data(values=frame.to_dicts())).mark_bar().encode(
        x=alt.X("label:N", sort="-y"), xOffset="stage:N", y="count:Q", color="stage:N",
    ).properties(title=title, width=520, height=220)


def length_histogram(frame: pl.DataFrame, title: str) -> alt.Chart:
    """Histogram of a frame with columns dataset, words."""
    return alt.Chart(alt.Data(values=frame.to_dicts())).mark_bar(opacity=0.6).encode(
        x=alt.X("words:Q", bin=alt.Bin(maxbins=40), title="words per text"),
        y=alt.Y("count():Q", stack=None), color="dataset:N",
    ).properties(title=title, width=420, height=220)
