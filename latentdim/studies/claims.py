"""The slides' claims, and their papers', given a verdict from a sweep's seeds.

A study spec lists what it checks as ``[[claims]]`` tables; ``latentdim report`` gives
each one of three verdicts and writes them to ``claims.md`` (and REPORT.md):

* an **ordering** -- ``lower = "maskaae"``, ``than = ["wae-gan", "vae"]`` (or
  ``than = "*"``: every other model of the sweep), ``higher`` for the reverse -- on a
  metric of the records (``fid``, ``nac``, ``active_dims``, ...). Each pair is a
  two-sided two-sample t-test at 95 % on the seeds' values (pooled variance,
  ``k_a + k_b - 2`` degrees of freedom): the pair *holds* when the claimed model's mean
  is on the claimed side and the difference is significant, *does not hold* when it is
  significant the other way, and otherwise the two *cannot be told apart within the
  seed spread*. The claim holds when every pair holds, does not hold when any pair does
  not, and cannot be told apart otherwise. With three seeds a side, t = 2.78: two means
  must differ by about 2.3 pooled sd before a verdict is given.
* a **value** -- ``model = "maskaae"``, ``equals = 13``, ``within = 1`` -- does not
  hold when the value lies outside the 95 % t interval of the seeds' mean; holds when
  it lies inside and the whole interval lies within ``equals ± within`` (the tolerance
  the claim is read with, in the metric's units: required, since "in the interval"
  alone is met by any value when the seeds spread widely); and otherwise cannot be told
  apart within the seed spread: the seeds do not pin the value down that closely. Only
  quantities that mean the same thing here as on the slides can be checked this way
  (NAC, active dims): an FID on the mnist-cnn features is not on the Inception scale of
  the slides, so FID claims are orderings, with the slides' number shown beside ours.

FID and KID are on a feature network's features; an ordering whose records were scored
on more than one network (another machine trained another mnist-cnn: ``features_sha256``)
says so beside its verdict.

Optional keys: ``says`` (the claim in words; required), ``source`` (where it is made),
``slides`` (the number it quotes, as text), ``dataset`` and ``m`` (needed only where the
records hold several).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from latentdim.errors import LatentdimError

HOLDS, FAILS, TIED = "holds", "does not hold", "cannot be told apart"
_KEYS = {"says", "source", "slides", "metric", "lower", "higher", "than", "model", "equals", "within"}
_KEYS |= {"dataset", "m"}
LEVEL = 0.95
FEATURE_METRICS = ("fid", "kid")  # on a feature network's features (latentdim.runs.evaluate)


@dataclass(frozen=True)
class Verdict:
    """One claim's outcome: ``ours`` states the measured values, ``verdict`` is one of
    :data:`HOLDS`, :data:`FAILS`, :data:`TIED`, or None where the records cannot judge
    it (``ours`` then says why)."""

    says: str
    source: str
    slides: str
    ours: str
    verdict: str | None


def parse_claims(value, where: str) -> tuple[dict, ...]:
    """Validate a spec's ``claims`` list (at load, before anything trains)."""
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise LatentdimError(f"{where}: 'claims' must be a list of tables ([[claims]])")
    claims = []
    for claim in value:
        label = f"{where}: claim {claim.get('says', claim)!r}"
        unknown = sorted(set(claim) - _KEYS)
        if unknown:
            raise LatentdimError(f"{label}: unknown keys {', '.join(unknown)}")
        if not isinstance(claim.get("says"), str) or not isinstance(claim.get("metric"), str):
            raise LatentdimError(f"{label}: needs 'says' and 'metric' (strings)")
        kinds = [k for k in ("lower", "higher", "model") if k in claim]
        if len(kinds) != 1:
            raise LatentdimError(
                f"{label}: needs one of 'lower', 'higher' (with 'than') or 'model' (with 'equals')"
            )
        if kinds[0] == "model":
            if not isinstance(claim.get("equals"), (int, float)) or "than" in claim:
                raise LatentdimError(f"{label}: 'model' goes with a number 'equals' and no 'than'")
            within = claim.get("within")
            if not isinstance(within, (int, float)) or isinstance(within, bool) or within < 0:
                raise LatentdimError(
                    f"{label}: a value claim needs 'within', the tolerance it is read with (a number >= 0)"
                )
        else:
            than = claim.get("than")
            labels = isinstance(than, list) and than and all(isinstance(t, str) for t in than)
            if not (than == "*" or labels):
                raise LatentdimError(f"{label}: 'than' must be a list of model labels or \"*\"")
            if "equals" in claim or "within" in claim:
                raise LatentdimError(f"{label}: 'equals' and 'within' go with 'model', not with an ordering")
        claims.append(dict(claim))
    return tuple(claims)


def check_models(claims: tuple[dict, ...], models: set[str], where: str) -> None:
    """Every model a claim names is one of the study's labels."""
    for claim in claims:
        named = [claim[k] for k in ("lower", "higher", "model") if k in claim]
        named += [] if claim.get("than", "*") == "*" else claim["than"]
        missing = sorted(set(named) - models)
        if missing:
            names = ", ".join(missing)
            raise LatentdimError(f"{where}: claim {claim['says']!r} names {names}, not a model of the study")


def _values(records: list[dict], claim: dict) -> tuple[dict[str, list[float]], str | None]:
    """Per model label, the seeds' values of the claim's metric at its dataset and m."""
    datasets = {r["dataset"] for r in records} if "dataset" not in claim else {claim["dataset"]}
    rows = [r for r in records if r["dataset"] in datasets]
    ms = {r["latent_dim"] for r in rows} if "m" not in claim else {claim["m"]}
    if len(datasets) != 1 or len(ms) != 1:
        return {}, "several datasets or capacities in the records: the claim needs 'dataset' and 'm'"
    values = defaultdict(list)
    for record in rows:
        value = record["metrics"].get(claim["metric"]) if record["latent_dim"] in ms else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            values[record["model"]].append(float(value))
    return values, None


def feature_networks(records: list[dict], models: list[str]) -> set:
    """The feature networks the records of ``models`` were scored on: their weights'
    hash (``features_sha256``), or for records made before it was kept, the network's
    accuracy as the nearest thing to an identity."""
    return {
        r["metrics"].get("features_sha256") or r["metrics"].get("features_accuracy")
        for r in records
        if r["model"] in models
    }


def _t(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, df))


def _digits(values: list[float]) -> int:
    """Decimals to print the seeds' values with: 3 below a mean of 10, else 1."""
    return 3 if abs(float(np.mean(values))) < 10 else 1


def _fmt(values: list[float]) -> str:
    mean = float(np.mean(values))
    digits = _digits(values)
    if len(values) < 2:
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


def pooled_sd(*samples: list[float]) -> float | None:
    """Within-sample sd pooled over every sample with two values or more (None: none has)."""
    squares = dof = 0.0
    for values in samples:
        v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
        if v.size >= 2:
            squares += float(((v - v.mean()) ** 2).sum())
            dof += v.size - 1
    return math.sqrt(squares / dof) if dof else None


def pair_verdict(a: list[float], b: list[float]) -> str:
    """Is mean(a) below mean(b)? :data:`HOLDS`, :data:`FAILS` or :data:`TIED` (see the module)."""
    sd = pooled_sd(a, b)
    if sd is None:
        return TIED  # no degrees of freedom: the spread is unknown
    diff = float(np.mean(a) - np.mean(b))
    margin = _t(len(a) + len(b) - 2) * sd * math.sqrt(1 / len(a) + 1 / len(b))
    if abs(diff) <= margin:  # sd = 0 and equal means also land here
        return TIED
    return HOLDS if diff < 0 else FAILS


def value_interval(values: list[float]) -> tuple[float, float] | None:
    """The seeds' 95 % t interval of the mean; None with one seed."""
    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    half = _t(len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean - half, mean + half


def value_verdict(values: list[float], target: float, within: float) -> str | None:
    """Is the seeds' mean ``target`` to within ``within``? :data:`FAILS` when ``target``
    is outside the 95 % t interval, :data:`HOLDS` when it is inside and the interval
    lies in ``target ± within``, :data:`TIED` otherwise; None with one seed."""
    interval = value_interval(values)
    if interval is None:
        return None
    low, high = interval
    if not low <= target <= high:
        return FAILS
    return HOLDS if target - within <= low and high <= target + within else TIED


def judge(claim: dict, records: list[dict]) -> Verdict:
    """One claim's verdict from the finished records of a sweep."""
    values, problem = _values(records, claim)
    base = dict(says=claim["says"], source=claim.get("source", ""), slides=str(claim.get("slides", "")))
    if problem:
        return Verdict(**base, ours=problem, verdict=None)
    metric = claim["metric"]
    if "model" in claim:
        mine = values.get(claim["model"], [])
        if not mine:
            return Verdict(**base, ours=f"no {metric} of {claim['model']} in the records", verdict=None)
        verdict = value_verdict(mine, float(claim["equals"]), float(claim["within"]))
        ours = f"{claim['model']}: {metric} {_fmt(mine)}, {len(mine)} seeds"
        interval = value_interval(mine)
        if interval is not None:
            digits = _digits(mine)
            ours += f", 95 % interval [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
            ours += f" (read within ± {claim['within']:g})"
        return Verdict(**base, ours=ours, verdict=verdict)
    side = "lower" if "lower" in claim else "higher"
    model = claim[side]
    others = [m for m in sorted(values) if m != model] if claim["than"] == "*" else list(claim["than"])
    mine = values.get(model, [])
    missing = [m for m in [model, *others] if not values.get(m)]
    if missing:
        return Verdict(**base, ours=f"no {metric} of {', '.join(missing)} in the records", verdict=None)
    outcomes = defaultdict(list)
    for other in others:
        a, b = (mine, values[other]) if side == "lower" else (values[other], mine)
        outcomes[pair_verdict(a, b)].append(f"{other} {_fmt(values[other])}")
    verdict = FAILS if outcomes[FAILS] else TIED if outcomes[TIED] else HOLDS
    words = {HOLDS: f"{side} than", TIED: "cannot be told apart from", FAILS: f"not {side} than"}
    parts = [f"{words[v]} {', '.join(outcomes[v])}" for v in (HOLDS, TIED, FAILS) if outcomes[v]]
    ours = f"{model} {metric} {_fmt(mine)}: " + "; ".join(parts)
    networks = feature_networks(records, [model, *others]) if metric in FEATURE_METRICS else set()
    if len(networks) > 1:
        ours += f" (scored on {len(networks)} different feature networks: their scales differ)"
    return Verdict(**base, ours=ours, verdict=verdict)


def claims_markdown(verdicts: list[Verdict]) -> str:
    """The verdicts as a Markdown table."""
    rows = ["| claim | source | slides | ours (mean ± sd over seeds) | verdict |", "|---|---|---|---|---|"]
    for v in verdicts:
        verdict = v.verdict or "cannot be judged from these records"
        rows.append(f"| {v.says} | {v.source} | {v.slides} | {v.ours} | **{verdict}** |")
    return "\n".join(rows) + "\n"
