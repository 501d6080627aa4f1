"""`prepkit init`: a commented recipe built from what `inspect` found.

Every choice is written with a comment saying why, so the recipe reads as the reasoning of a
careful first pass: split (stratified for classes), drop ids/constants/empty/leaking columns,
parse numbers and dates stored as text, impute by dtype, clip IQR outliers, resample or weight
imbalanced classes, encode by cardinality, scale, and a quality gate. The recipe validates and
runs as it is; it is a starting point to read and adjust.
"""

from __future__ import annotations

import json
from typing import Any

from prepkit.inspection import Profile

ONEHOT_MAX = 15  # categories up to which one-hot encoding is chosen; above: ordinal codes
SPLIT = {"valid": 0.15, "test": 0.15}
SMOTE_MIN_ROWS = 12  # minority training rows below which class weights are used instead


def _q(value: str) -> str:
    """A YAML scalar for a name (JSON strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _names(names: list[str]) -> str:
    return "[" + ", ".join(_q(n) for n in names) + "]"


def _why(problems: list[Any], kinds: set[str]) -> dict[str, str]:
    """column -> the first problem message of those kinds."""
    out: dict[str, str] = {}
    for p in problems:
        if p.kind in kinds and p.column is not None and p.column not in out:
            out[p.column] = p.message
    return out


def is_classification(profile: Profile) -> bool:
    if profile.target is None:
        return False
    info = profile.column(profile.target)
    return info["kind"] in ("string", "categorical", "boolean") or (
        info["dtype"].startswith(("Int", "UInt")) and info["distinct"] <= 20
    )


def suggest_recipe(profile: Profile, *, name: str, input_path: str, output_path: str) -> str:
    """The recipe's YAML text (see the module docstring)."""
    target = profile.target
    kinds = {c["name"]: c["kind"] for c in profile.columns}
    problems = profile.problems
    dropped = _why(problems, {"id_like", "constant", "near_constant", "all_missing",
                              "mostly_missing", "target_leakage"})  # fmt: skip
    dropped.pop(target, None)  # type: ignore[arg-type]
    as_numbers = _why(problems, {"numbers_as_text", "mixed_types"})
    as_dates = _why(problems, {"dates_as_text"})
    for column in (*as_numbers, *as_dates):
        dropped.pop(column, None)
    kept = [c for c in kinds if c != target and c not in dropped]
    numeric = [c for c in kept if kinds[c] == "numeric" or c in as_numbers]
    categorical = [c for c in kept if kinds[c] in ("string", "categorical", "boolean")
                   and c not in as_numbers and c not in as_dates]  # fmt: skip
    text = [c for c in kept if kinds[c] == "text"]
    dates = [c for c in kept if kinds[c] == "datetime" or c in as_dates]
    missing = {c["name"]: c["missing"] for c in profile.columns}
    distinct = {c["name"]: c["distinct"] for c in profile.columns}
    classify = is_classification(profile)

    lines = [
        f"# Written by `prepkit init` from {input_path} ({profile.rows} rows, "
        f"{len(profile.columns)} columns). A first pass: read it, then adjust.",
        "#   prepkit run THIS_FILE        prepkit evaluate THIS_FILE   (does it help the model?)",
        f"name: {_q(name)}",
        f"input: {_q(input_path)}",
        f"output: {_q(output_path)}",
    ]
    if target:
        lines.append(f"target: {_q(target)}")
    lines.append("seed: 0")
    stratify = classify and min((profile.classes or {"": 0}).values()) >= 10
    why = "classes kept in proportion in every part" if stratify else "random rows"
    lines.append(
        f"split: {{valid: {SPLIT['valid']}, test: {SPLIT['test']}"
        + (", stratify: true" if stratify else "") + f"}}   # {why}; fitting sees train only"
    )  # fmt: skip
    lines.append("steps:")
    if profile.duplicate_rows:
        lines += [f"  - step: drop_duplicates   # {profile.duplicate_rows} rows are exact copies "
                  "(training part only)"]  # fmt: skip
    if dropped:
        lines.append("  - step: drop")
        lines.append(f"    columns: {_names(list(dropped))}")
        lines += [f"    # {c}: {reason}" for c, reason in dropped.items()]
    casts = {**{c: "float64" for c in as_numbers}, **{c: "date" for c in as_dates}}
    if casts:
        pairs = ", ".join(f"{_q(c)}: {t}" for c, t in casts.items())
        lines += ["  - step: cast", f"    dtypes: {{{pairs}}}"]
        lines += [f"    # {c}: {reason}" for c, reason in {**as_numbers, **as_dates}.items()]
        if any(p.kind == "mixed_types" for p in problems if p.column in as_numbers):
            lines.append(
                "    strict: false   # values that are not numbers become missing (counted)"
            )
    gaps = [c for c in numeric if missing[c] or c in as_numbers]
    if gaps:
        lines += ["  - step: impute   # median: robust to the outliers below",
                  f"    columns: {_names(numeric)}", "    strategy: median"]  # fmt: skip
    cat_gaps = [c for c in categorical if missing[c]]
    if cat_gaps:
        lines += ["  - step: impute",
                  f"    columns: {_names(categorical)}", "    strategy: most_frequent"]  # fmt: skip
    text_gaps = [c for c in text if missing[c]]
    if text_gaps:
        lines += ["  - step: impute   # empty text for missing text",
                  f"    columns: {_names(text_gaps)}", "    strategy: constant", '    value: ""']  # fmt: skip
    if text:
        lines += ["  - step: clean_text   # free text: normalised, HTML stripped",
                  f"    columns: {_names(text)}"]  # fmt: skip
    outliers = [c for c in numeric if (profile.column(c).get("iqr_outliers") or 0) > 0]
    if outliers:
        lines += ["  - step: outliers   # values beyond 1.5 IQR were found; clipped at 3 IQR",
                  f"    columns: {_names(outliers)}", "    method: iqr", "    factor: 3.0",
                  "    action: clip"]  # fmt: skip
    lines += _balance(profile, classify, text + dates, bool(numeric or categorical))
    onehot = [c for c in categorical if distinct[c] <= ONEHOT_MAX]
    ordinal = [c for c in categorical if distinct[c] > ONEHOT_MAX]
    if onehot:
        lines += [f"  - step: encode   # up to {ONEHOT_MAX} categories: one column each",
                  f"    columns: {_names(onehot)}", "    method: onehot"]  # fmt: skip
    if ordinal:
        lines += [f"  - step: encode   # more than {ONEHOT_MAX} categories: integer codes",
                  f"    columns: {_names(ordinal)}", "    method: ordinal"]  # fmt: skip
    if numeric:
        lines += ["  - step: scale   # zero mean, unit variance (the numbers, not the codes)",
                  f"    columns: {_names(numeric)}", "    method: standard"]  # fmt: skip
    train_rows = int(profile.rows * (1 - SPLIT["valid"] - SPLIT["test"]))
    lines += ["checks:   # a failed check exits 3 and writes no output",
              f"  - {{metric: rows_out, min: {max(1, train_rows // 2)}}}   "
              "# more than half the training rows lost: stop"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _balance(profile: Profile, classify: bool, exclude: list[str], features: bool) -> list[str]:
    """SMOTE (SMOTENC with categories) when the classes are imbalanced and the minority has
    enough rows for neighbours and there are numbers or categories to interpolate, else class
    weights; nothing for balanced or regression targets."""
    imbalance = next((p for p in profile.problems if p.kind == "class_imbalance"), None)
    if not classify or imbalance is None:
        return []
    minority_train = int(imbalance.evidence["minority_rows"] * (1 - SPLIT["valid"] - SPLIT["test"]))
    ratio = f"{imbalance.evidence['ratio']:.1f}:1"
    if not features:
        return [f"  - step: class_weights   # classes {ratio}; no numbers or categories for "
                "SMOTE to interpolate: weight the rows instead"]  # fmt: skip
    if minority_train < SMOTE_MIN_ROWS:
        return [f"  - step: class_weights   # classes {ratio}, minority too small for SMOTE's "
                "neighbours: weight the rows instead"]  # fmt: skip
    lines = [f"  - step: smote   # classes {ratio}: synthetic minority rows (training part only)",
             f"    k_neighbors: {min(5, minority_train - 1)}"]  # fmt: skip
    if exclude:
        lines.append(
            f"    columns: {{exclude: {_names(exclude)}}}   # text and dates are not interpolated"
        )
    return lines


def write_recipe(
    data: str, target: str | None, recipe_path: str, *, fmt: str | None = None, force: bool = False
) -> tuple[str, Profile]:
    """Inspect `data`, write the suggested recipe to `recipe_path` (atomically; an existing file
    only with `force`) and return its text and the profile. Paths in the recipe are relative to
    its folder, as `prepkit run` reads them."""
    import os
    from pathlib import Path

    from prepkit.errors import RecipeError
    from prepkit.inspection import inspect
    from prepkit.io import read_table
    from prepkit.io.atomic import check_writable, write_text_atomic

    out = Path(recipe_path)
    if out.exists() and not force:
        raise RecipeError(f"{out} exists", hint="give another -o path, or --force to replace it")
    check_writable(out, "recipe", False)
    profile = inspect(read_table(data, fmt), target)
    folder = out.resolve().parent
    stem = Path(data).name.split(".")[0] or "data"
    text = suggest_recipe(
        profile, name=stem, input_path=os.path.relpath(Path(data).resolve(), folder),
        output_path=f"out/{stem}_clean.parquet",
    )  # fmt: skip
    write_text_atomic(out, text)
    return text, profile
