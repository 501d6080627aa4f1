"""A catalogue of bad inputs and faults, each tried through the real command line.

Every case runs `prepkit` (typer's CliRunner in-process; a subprocess for stdin/stdout/pipe
faults) in a temporary copy of `recipes/` and `sample_data/`, and checks what a careless or
hostile user should get:

- the documented exit code (README "Command line": 1 data/runtime, 2 usage/recipe, 3 quality gate);
- no traceback and never "internal error" on stderr;
- one message naming the file / line / column concerned, with a hint of what to do;
- nothing written (no new file anywhere in the workspace, no leftover `.*.tmp`);
- inputs unchanged (every file in the workspace hashes the same before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prepkit.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

# -- the workspace every case starts from ------------------------------------------------------

SMALL_CSV = "a,b,c,y\n1,x,1.5,0\n2,y,,1\n,x,3.5,0\n4,z,4.0,1\n5,x,2.0,0\n6,y,1.0,1\n7,z,2.5,0\n"

SIMPLE = """\
name: simple
input: ../sample_data/small.csv
output: ../out/small.csv
target: y
steps:
  - step: impute
    columns: numeric
    strategy: median
  - step: scale
    columns: numeric
"""

SPLIT = SIMPLE.replace("target: y\n", "target: y\nsplit: {valid: 0.25, test: 0.25}\n")

# a recipe whose options are all valid: tests change one line of it
BASE_LINES = [
    "name: base",  # 1
    "input: ../sample_data/small.csv",  # 2
    "output: ../out/base.csv",  # 3
    "target: y",  # 4
    "seed: 1",  # 5
    "steps:",  # 6
    "  - step: impute",  # 7
    "    columns: numeric",  # 8
    "    strategy: median",  # 9
    "  - step: outliers",  # 10
    "    columns: [a]",  # 11
    "    factor: 1.5",  # 12
    "  - step: encode",  # 13
    "    columns: [b]",  # 14
    "    method: onehot",  # 15
]


def base_with(**lines: str) -> str:
    """BASE_LINES with some lines replaced: `base_with(L9="    strategy: medain")`."""
    out = list(BASE_LINES)
    for key, text in lines.items():
        out[int(key[1:]) - 1] = text
    return "\n".join(out) + "\n"


def _fitted_artifact() -> dict[str, Any]:
    """The tabular recipe fitted (without its split) on the first 600 churn rows."""
    import polars as pl

    import prepkit

    recipe = prepkit.load_recipe(ROOT / "recipes/tabular.yaml", overrides=["split=null"])
    frame = pl.read_csv(ROOT / "sample_data/churn.csv", try_parse_dates=True, n_rows=600)
    return recipe.fit(frame).to_dict()


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    """recipes/, sample_data/ and a fitted artifact, built once and copied for every case."""
    base = tmp_path_factory.mktemp("pristine")
    shutil.copytree(ROOT / "recipes", base / "recipes")
    shutil.copytree(ROOT / "sample_data", base / "sample_data")
    (base / "sample_data/small.csv").write_text(SMALL_CSV)
    (base / "recipes/simple.yaml").write_text(SIMPLE)
    (base / "recipes/split.yaml").write_text(SPLIT)
    (base / "fitted").mkdir()
    (base / "fitted/churn.prepkit.json").write_text(json.dumps(_fitted_artifact(), indent=2))
    return base


@pytest.fixture
def workspace(pristine, tmp_path, monkeypatch) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(pristine, ws, symlinks=True)
    monkeypatch.chdir(ws)
    return ws


def snapshot(root: Path) -> dict[str, str]:
    """Every file (and symlink) under root with the hash of its bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# -- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int | tuple[int, ...]
    says: tuple[str, ...] = ()  # fragments stderr must contain (whitespace-normalised)
    hint: str | None = "hint:"  # a fragment that shows what to do; None: not checked
    never: tuple[str, ...] = ()  # fragments stderr must not contain
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    stdin: str | None = None
    proc: str | None = None  # run as a subprocess: "plain", "close-stdin", "close-stdout", "pipe"
    timeout: float = 60


def recipe_case(
    id: str, text: str, code: int, *says: str, at: str | None = None, hint: str | None = None,
    command: str = "validate", extra: tuple[str, ...] = (), never: tuple[str, ...] = (),
    named: bool = True,
) -> Case:  # fmt: skip
    """A bad recipe written to recipes/bad.yaml; `at` is a fragment whose line must be named."""
    fragments = ["bad.yaml", *says] if named else list(says)
    if at is not None:
        line = next(i for i, row in enumerate(text.splitlines(), 1) if at in row)
        fragments.append(f"bad.yaml:{line}:")
    return Case(
        id, (command, "recipes/bad.yaml", *extra), code, tuple(fragments), hint=hint,
        files={"recipes/bad.yaml": text}, never=never,
    )  # fmt: skip


def edit_artifact(edit: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Setup writing fitted/bad.prepkit.json: the good artifact changed by `edit`."""

    def setup(ws: Path) -> None:
        data = json.loads((ws / "fitted/churn.prepkit.json").read_text())
        changed = edit(data)
        data = data if changed is None else changed
        (ws / "fitted/bad.prepkit.json").write_text(json.dumps(data, allow_nan=True))

    return setup


def _step(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["step"] == name)


def _set_scale(data: dict[str, Any]) -> None:
    _step(data, "scale")["state"]["scaling"]["age"] = {"center": 1e308, "scale": 1e-320}


def _set_nan_scale(data: dict[str, Any]) -> None:
    _step(data, "scale")["state"]["scaling"]["age"]["scale"] = float("nan")


def _unknown_column(data: dict[str, Any]) -> None:
    state = _step(data, "impute")["state"]
    state["columns"].append("no_such_column")
    state["fill"]["no_such_column"] = 1.0


def _string_fill(data: dict[str, Any]) -> None:
    _step(data, "impute")["state"]["fill"]["age"] = "pl.col('tenure_months') * 0"


def _empty_state(data: dict[str, Any]) -> None:
    _step(data, "scale")["state"] = {}


def _garbage_steps(data: dict[str, Any]) -> None:
    data["steps"] = ["impute", 3, None]


def _unknown_step(data: dict[str, Any]) -> None:
    _step(data, "scale")["step"] = "scael"


def _bounds_text(data: dict[str, Any]) -> None:
    _step(data, "outliers")["state"]["bounds"]["monthly_charges"] = ["low", "high"]


def _churn_new_without(column: str) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        import polars as pl

        frame = pl.read_csv(ws / "sample_data/churn_new.csv").drop(column)
        frame.write_csv(ws / "sample_data/new_bad.csv")

    return setup


def _churn_new_text_age(ws: Path) -> None:
    import polars as pl

    frame = pl.read_csv(ws / "sample_data/churn_new.csv")
    frame = frame.with_columns(pl.lit("old").alias("age"))
    frame.write_csv(ws / "sample_data/new_bad.csv")


def _symlink_to_input(ws: Path) -> None:
    (ws / "sample_data/alias.csv").symlink_to(ws / "sample_data/churn_new.csv")


def _folder_named_csv(ws: Path) -> None:
    (ws / "out/taken.csv").mkdir(parents=True)


def _train_part_is_folder(ws: Path) -> None:
    (ws / "out/small_train.csv").mkdir(parents=True)


def _fitted_is_folder(ws: Path) -> None:
    (ws / "out/model.prepkit.json").mkdir(parents=True)


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "name: laughs\nsteps: []\n"
)
DEEP = "name: deep\nsteps:\n  - step: impute\n    columns: " + "[" * 5000 + "]" * 5000 + "\n"

SMOTE = "name: s\ninput: ../sample_data/{data}\noutput: ../out/s.csv\ntarget: y\nsteps:\n  - step: smote\n"  # fmt: skip
APPLY = ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv")
UNWRITABLE = "/sys/prepkit_catalogue_out.csv"  # refused even to root (sysfs)

CASES = [
    # -- recipes: names, options, types ---------------------------------------------------------
    recipe_case("recipe-unknown-top-key", base_with(L5="sed: 1"), 2, "sed", "did you mean 'seed'", at="sed:", hint="did you mean"),
    recipe_case("recipe-unknown-step", base_with(L10="  - step: outlier"), 2, "outlier", "did you mean 'outliers'", at="step: outlier", hint="prepkit steps"),
    recipe_case("recipe-unknown-value", base_with(L9="    strategy: medain"), 2, "medain", "did you mean 'median'", at="medain", hint="choose one of"),
    recipe_case("recipe-unknown-option", base_with(L12="    factr: 1.5"), 2, "factr", "did you mean 'factor'", at="factr", hint="valid options"),
    recipe_case("recipe-option-typo-columns", base_with(L8="    colums: numeric"), 2, "colums", "did you mean 'columns'", at="colums", hint="valid options"),
    recipe_case("recipe-wrong-type-number", base_with(L12="    factor: wide"), 2, "factor", at="factor: wide", hint="valid number"),
    recipe_case("recipe-wrong-type-seed", base_with(L5="seed: abc"), 2, "seed", at="seed:", hint="integer"),
    recipe_case("recipe-wrong-type-bool", base_with(L15="    method: onehot\n    keep_original: perhaps"), 2, "keep_original", at="perhaps", hint="valid boolean"),
    recipe_case("recipe-steps-a-mapping", "name: x\nsteps:\n  step: impute\n", 2, "steps", at="steps:", hint="list"),
    recipe_case("recipe-step-a-string", "name: x\nsteps:\n  - impute\n", 2, "step 1", at="- impute", hint="step:"),
    recipe_case("recipe-step-without-name", "name: x\nsteps:\n  - columns: numeric\n", 2, "step", at="columns: numeric", hint="step:"),
    recipe_case("recipe-bad-selector-key", base_with(L11="    columns: {regx: '^a'}"), 2, "regx", "did you mean 'regex'", at="regx", hint="did you mean"),
    recipe_case("recipe-bad-regex", base_with(L11="    columns: {regex: '(unclosed'}"), 2, "regex", "(unclosed", at="regex:", hint="regular expression"),
    recipe_case("recipe-selector-a-number", base_with(L11="    columns: 42"), 2, "columns", at="columns: 42", hint="selector"),
    recipe_case("recipe-cast-unknown-dtype", "name: x\nsteps:\n  - step: cast\n    dtypes: {a: int65}\n", 2, "int65", at="int65", hint="did you mean 'int64'"),
    recipe_case("recipe-percentile-bounds-reversed", base_with(L12="    method: percentile\n    lower: 0.9\n    upper: 0.1"), 2, "upper", at="step: outliers", hint="lower"),
    recipe_case("recipe-unknown-check-metric", base_with(L6="checks: [{metric: rows_ot, min: 1}]\nsteps:"), 2, "rows_ot", "did you mean 'rows_out'", at="rows_ot", hint="did you mean"),
    recipe_case("recipe-unknown-input-format", base_with(L2="input: {path: ../sample_data/small.csv, format: exel}"), 2, "exel", hint="csv", command="run", named=False),
    recipe_case("recipe-unknown-reader-option", base_with(L2="input: {path: ../sample_data/small.csv, options: {separatr: ';'}}"), 2, "separatr", "did you mean 'separator'", command="run", hint="did you mean", named=False),
    # -- recipes: split -------------------------------------------------------------------------
    recipe_case("split-fraction-above-one", base_with(L5="split: {test: 1.5}"), 2, "test", at="split:", hint="less than 1"),
    recipe_case("split-fraction-negative", base_with(L5="split: {valid: -0.1}"), 2, "valid", at="split:", hint="greater than or equal to 0"),
    recipe_case("split-fractions-sum-to-one", base_with(L5="split: {valid: 0.5, test: 0.5}"), 2, "valid + test", hint="below 1", command="run", named=False),
    recipe_case("split-fraction-text", base_with(L5="split: {test: some}"), 2, "test", at="split:", hint="valid number"),
    recipe_case("split-unknown-key", base_with(L5="split: {tset: 0.2}"), 2, "tset", "did you mean 'test'", at="split:", hint="did you mean"),
    recipe_case("split-stratify-without-target", base_with(L4="split: {test: 0.2, stratify: true}"), 2, "stratify", hint="target", command="run", named=False),
    # -- recipes: YAML itself -------------------------------------------------------------------
    recipe_case("yaml-duplicate-top-key", base_with(L5="steps: []\nseed: 1"), 2, "bad.yaml:7:", "'steps'", "line 5", hint="duplicate"),
    recipe_case("yaml-duplicate-step-key", base_with(L9="    strategy: median\n    strategy: mean"), 2, "strategy", "duplicate", at="strategy: mean", hint="duplicate"),
    recipe_case("yaml-syntax-error", "name: x\nsteps: [\n  - step: impute\n", 2, "bad.yaml:3:", hint=None),
    recipe_case("yaml-unclosed-quote", "name: 'x\nsteps: []\n", 2, "bad.yaml:1:", hint="quote"),
    recipe_case("yaml-tab-indent", "name: x\nsteps:\n\t- step: impute\n", 2, "tab", at="\t- step", hint="indentation"),
    recipe_case("yaml-empty-file", "", 2, "no input", hint="-i", command="run", named=False),
    recipe_case("yaml-only-comments", "# nothing here\n# at all\n", 2, "no input", hint="-i", command="run", named=False),
    recipe_case("yaml-list-not-mapping", "- step: impute\n- step: scale\n", 2, "mapping", hint="steps:"),
    recipe_case("yaml-scalar-document", "just some text\n", 2, "mapping", hint="steps:"),
    recipe_case("yaml-python-object-tag", "name: !!python/object/apply:os.system ['echo pwned']\nsteps: []\n", 2, "python/object", at="!!python", hint="tag", never=("pwned", "indent")),
    recipe_case("yaml-custom-tag", "name: !Secret x\nsteps: []\n", 2, "!Secret", at="!Secret", hint="tag", never=("indent",)),
    recipe_case("yaml-two-documents", "name: a\n---\nname: b\n", 2, "bad.yaml:2:", hint="document"),
    Case("yaml-billion-laughs", ("validate", "recipes/bad.yaml"), 2, ("bad.yaml", "alias"), hint="alias", files={"recipes/bad.yaml": BILLION_LAUGHS}, proc="plain", timeout=15),
    Case("yaml-deep-nesting", ("validate", "recipes/bad.yaml"), 2, ("bad.yaml", "nest"), hint="nest", files={"recipes/bad.yaml": DEEP}, proc="plain", never=("RecursionError",), timeout=30),
    Case("yaml-bad-encoding", ("validate", "recipes/bad.yaml"), (1, 2), ("bad.yaml", "utf-8"), hint=None, files={"recipes/bad.yaml": "name: caf\xe9\nsteps: []\n".encode("latin-1")}),
    Case("recipe-file-missing", ("validate", "recipes/nope.yaml"), (1, 2), ("nope.yaml", "not found"), hint=None),
    Case("recipe-is-a-folder", ("validate", "recipes"), (1, 2), ("recipes", "folder"), hint=None),
    Case("recipe-run-missing", ("run", "recipes/nope.yaml"), (1, 2), ("nope.yaml", "not found"), hint=None),
    # -- recipes: --set -------------------------------------------------------------------------
    Case("set-unparsable-value", ("run", "recipes/simple.yaml", "--set", "seed=[1,"), 2, ("--set", "seed"), hint="YAML"),
    Case("set-without-equals", ("run", "recipes/simple.yaml", "--set", "seed"), 2, ("--set", "seed"), hint="key=value"),
    Case("set-step-out-of-range", ("validate", "recipes/simple.yaml", "--set", "steps.9.strategy=mean"), 2, ("--set", "9"), hint="numbered from 1"),
    Case("set-unknown-step-id", ("validate", "recipes/simple.yaml", "--set", "steps.impute_9.strategy=mean"), 2, ("impute_9",), hint="step id"),
    Case("set-unknown-key", ("validate", "recipes/simple.yaml", "--set", "sed=3"), 2, ("sed", "did you mean 'seed'"), hint="did you mean"),
    Case("set-wrong-type", ("validate", "recipes/simple.yaml", "--set", "seed=abc"), 2, ("seed",), hint="valid integer"),
    Case("set-bad-value", ("validate", "recipes/simple.yaml", "--set", "steps.1.strategy=medain"), 2, ("medain", "did you mean 'median'"), hint="did you mean"),
    # -- data: files that cannot be read ----------------------------------------------------------
    Case("data-missing-file", ("run", "recipes/simple.yaml", "-i", "sample_data/nope.csv"), 1, ("nope.csv", "not found")),
    Case("data-empty-file", ("run", "recipes/simple.yaml", "-i", "sample_data/empty.csv"), 1, ("empty.csv", "empty"), files={"sample_data/empty.csv": ""}),
    Case("data-header-only", ("run", "recipes/simple.yaml", "-i", "sample_data/header.csv"), 1, ("header.csv", "no rows"), files={"sample_data/header.csv": "a,b,c,y\n"}),
    Case("data-wrong-separator", ("run", "recipes/simple.yaml", "-i", "sample_data/semi.csv"), 1, ("semi.csv", "'y'"), hint="separator", files={"sample_data/semi.csv": SMALL_CSV.replace(",", ";")}),
    Case("data-bad-encoding", ("run", "recipes/simple.yaml", "-i", "sample_data/latin.csv"), 1, ("latin.csv", "encoding"), files={"sample_data/latin.csv": "a,b,c,y\n1,caf\xe9,1.0,0\n2,th\xe9,2.0,1\n".encode("latin-1")}),
    Case("data-ragged-rows", ("run", "recipes/simple.yaml", "-i", "sample_data/ragged.csv"), 1, ("ragged.csv",), hint="truncate_ragged_lines", files={"sample_data/ragged.csv": "a,b,c,y\n1,x,1.0,0\n2,y,2.0,1,extra,more\n3,z,3.0,0\n"}),
    Case("data-binary-garbage-csv", ("run", "recipes/simple.yaml", "-i", "sample_data/garbage.csv"), 1, ("garbage.csv",), files={"sample_data/garbage.csv": bytes(range(256)) * 4}),
    Case("data-json-object-not-records", ("run", "recipes/simple.yaml", "-i", "sample_data/obj.json"), 1, ("obj.json", "records"), files={"sample_data/obj.json": '{"a": [1, 2], "y": [0, 1]}'}),
    Case("data-invalid-json", ("run", "recipes/simple.yaml", "-i", "sample_data/broken.json"), 1, ("broken.json",), files={"sample_data/broken.json": '[{"a": 1, "y": 0}, {"a": '}),
    Case("data-csv-named-parquet", ("run", "recipes/simple.yaml", "-i", "sample_data/fake.parquet"), 1, ("fake.parquet", "parquet"), files={"sample_data/fake.parquet": SMALL_CSV}),
    Case("data-folder-as-input", ("run", "recipes/simple.yaml", "-i", "sample_data"), (1, 2), ("sample_data", "folder"), never=("seed", "impute")),
    Case("data-folder-named-csv", ("run", "recipes/simple.yaml", "-i", "sample_data/dir.csv"), (1, 2), ("dir.csv", "folder"), setup=lambda ws: (ws / "sample_data/dir.csv").mkdir()),
    Case("data-unknown-extension", ("run", "recipes/simple.yaml", "-i", "sample_data/small.xlsx"), 2, ("small.xlsx", "xlsx"), hint="--format", files={"sample_data/small.xlsx": SMALL_CSV}),
    Case("data-format-exel", ("run", "recipes/simple.yaml", "--format", "exel"), 2, ("exel",), hint="csv"),
    Case("data-duplicate-headers", ("run", "recipes/simple.yaml", "-i", "sample_data/dups.csv"), 1, ("dups.csv", "'a'"), hint="header", files={"sample_data/dups.csv": "a,a,c,y\n1,2,1.0,0\n3,4,2.0,1\n5,6,3.0,0\n"}),
    # -- data: fitting that cannot work -----------------------------------------------------------
    Case("fit-target-not-a-column", ("run", "recipes/simple.yaml", "--set", "target=yy"), (1, 2), ("yy", "did you mean 'y'"), hint="did you mean"),
    Case("fit-target-typo-churn", ("run", "recipes/tabular.yaml", "--set", "target=churnd"), (1, 2), ("churnd", "did you mean 'churned'"), hint="did you mean"),
    Case("fit-all-null-column", ("run", "recipes/simple.yaml", "-i", "sample_data/nulls.csv", "--set", "steps.1.columns=[a]"), 1, ("'a'", "no values"), hint="drop_missing", never=("got String",), files={"sample_data/nulls.csv": "a,b,c,y\n,x,1.5,0\n,y,2.5,1\n,x,3.5,0\n"}),
    Case("fit-inf-for-scale", ("run", "recipes/simple.yaml", "-i", "sample_data/inf.csv"), 1, ("'c'", "inf"), never=("no values to learn from",), files={"sample_data/inf.csv": "a,b,c,y\n1,x,1.5,0\n2,y,inf,1\n3,x,3.5,0\n4,z,-inf,1\n"}),
    Case("fit-string-fill-on-float", ("run", "recipes/simple.yaml", "--set", "steps.1.strategy=constant", "--set", "steps.1.fill_value=unknown"), 1, ("fill_value", "unknown", "'c'"), hint="numeric fill_value"),
    Case("fit-select-missing-column", ("run", "recipes/simple.yaml", "--set", "steps.2.columns=[a, cc]"), 1, ("cc", "did you mean 'c'"), hint="columns"),
    Case("fit-group-selector-typo", ("run", "recipes/simple.yaml", "--set", "steps.2.columns=numerc"), 1, ("numerc", "did you mean 'numeric'"), hint="columns present|did you mean"),
    Case("fit-smote-one-row-class", ("run", "recipes/bad.yaml"), 1, ("smote", "class '1'"), hint="at least 2 rows", files={"recipes/bad.yaml": SMOTE.format(data="one.csv"), "sample_data/one.csv": "a,c,y\n" + "".join(f"{i},{i / 2},0\n" for i in range(12)) + "99,9.5,1\n"}),
    Case("fit-nan-into-sampler", ("run", "recipes/bad.yaml"), 1, ("smote", "columns: a"), hint="impute", files={"recipes/bad.yaml": SMOTE.format(data="gaps.csv"), "sample_data/gaps.csv": "a,c,y\n" + "".join(f"{'' if i % 4 == 0 else i},{i / 2},{int(i % 3 == 0)}\n" for i in range(30))}),
    Case("fit-stratify-single-row-class", ("run", "recipes/bad.yaml"), 1, ("stratify", "y"), files={"recipes/bad.yaml": SIMPLE.replace("target: y\n", "target: y\nsplit: {test: 0.3, stratify: true}\n"), "sample_data/small.csv": SMALL_CSV + "8,x,1.0,2\n"}),
    Case("fit-quality-gate", ("run", "recipes/bad.yaml"), 3, ("rows_out",), hint="no data output", files={"recipes/bad.yaml": SIMPLE.replace("steps:", "checks: [{metric: rows_out, min: 1000}]\nsteps:")}),
    # -- apply: new data that does not fit the artifact -----------------------------------------
    Case("apply-column-missing", ("apply", "fitted/churn.prepkit.json", "sample_data/new_bad.csv", "-o", "out/new.csv"), 1, ("new_bad.csv", "age", "missing"), hint="columns present", setup=_churn_new_without("age")),
    Case("apply-wrong-dtype", ("apply", "fitted/churn.prepkit.json", "sample_data/new_bad.csv", "-o", "out/new.csv"), 1, ("new_bad.csv", "'age'", "Int64"), hint="cast", setup=_churn_new_text_age),
    Case("apply-wrong-dtype-batched", ("apply", "fitted/churn.prepkit.json", "sample_data/new_bad.csv", "-o", "out/new.csv", "--batch-size", "50"), 1, ("'age'",), hint="cast", never=("column #",), setup=_churn_new_text_age),
    Case("apply-missing-input", ("apply", "fitted/churn.prepkit.json", "sample_data/nope.csv", "-o", "out/new.csv"), 1, ("nope.csv", "not found")),
    Case("apply-batch-size-zero", (*APPLY, "--batch-size", "0"), 2, ("--batch-size",), hint=None),
    # -- artifacts ------------------------------------------------------------------------------
    Case("artifact-missing", ("apply", "fitted/nope.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("nope.prepkit.json", "not found"), hint="prepkit run"),
    Case("artifact-folder", ("apply", "fitted", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("fitted",), hint="prepkit run"),
    Case("artifact-empty-file", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "JSON"), files={"fitted/bad.prepkit.json": ""}),
    Case("artifact-not-json", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json:1", "JSON"), files={"fitted/bad.prepkit.json": "name: not json\n"}),
    Case("artifact-a-list", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "prepkit.fitted"), files={"fitted/bad.prepkit.json": "[1, 2, 3]"}),
    Case("artifact-wrong-format", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "prepkit.fitted"), setup=edit_artifact(lambda d: d.update(format="sklearn.pipeline"))),
    Case("artifact-wrong-version", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "version 99"), hint="refit", setup=edit_artifact(lambda d: d.update(version=99))),
    Case("artifact-unknown-step", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "scael"), setup=edit_artifact(_unknown_step)),
    Case("artifact-garbage-steps", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "step 1"), setup=edit_artifact(_garbage_steps)),
    Case("artifact-tiny-scale", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "scale", "age"), hint="refit", setup=edit_artifact(_set_scale)),
    Case("artifact-nan-scale", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "scale", "age"), hint="refit", setup=edit_artifact(_set_nan_scale)),
    Case("artifact-unknown-column", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "no_such_column"), hint="refit", setup=edit_artifact(_unknown_column)),
    Case("artifact-string-fill-on-int", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "impute", "age"), hint="refit", setup=edit_artifact(_string_fill)),
    Case("artifact-empty-state", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "scale", "state"), hint="refit", setup=edit_artifact(_empty_state)),
    Case("artifact-text-bounds", ("apply", "fitted/bad.prepkit.json", "sample_data/churn_new.csv", "-o", "out/new.csv"), 1, ("bad.prepkit.json", "outliers", "monthly_charges"), hint="refit", setup=edit_artifact(_bounds_text)),
    # -- outputs --------------------------------------------------------------------------------
    Case("output-is-input-run", ("run", "recipes/simple.yaml", "-o", "sample_data/small.csv"), 2, ("small.csv", "input"), hint="never overwrites"),
    Case("output-is-input-apply", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "sample_data/churn_new.csv"), 2, ("churn_new.csv", "input"), hint="never overwrites"),
    Case("output-is-input-dot-alias", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "./sample_data/../sample_data/churn_new.csv"), 2, ("churn_new.csv", "input"), hint="never overwrites"),
    Case("output-is-input-symlink", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "sample_data/alias.csv"), 2, ("alias.csv", "input"), hint="never overwrites", setup=_symlink_to_input),
    Case("output-is-recipe-input", ("run", "recipes/bad.yaml"), 2, ("small.csv", "input"), hint="output", files={"recipes/bad.yaml": SIMPLE.replace("../out/small.csv", "../sample_data/small.csv")}),
    Case("output-is-artifact", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "fitted/churn.prepkit.json"), 2, ("churn.prepkit.json",), hint="never overwrites"),
    Case("output-folder-named-csv", ("run", "recipes/simple.yaml", "-o", "out/taken.csv"), (1, 2), ("taken.csv", "folder"), never=("image",), setup=_folder_named_csv),
    Case("output-no-suffix", ("run", "recipes/simple.yaml", "-o", "out/result"), 2, ("out/result",), hint="--output-format", never=("image",)),
    Case("output-parent-is-a-file", ("run", "recipes/simple.yaml", "-o", "sample_data/small.csv/x.csv"), (1, 2), ("small.csv",), never=("NotADirectoryError",)),
    Case("output-unwritable-folder", ("run", "recipes/simple.yaml", "-o", UNWRITABLE), 1, ("prepkit_catalogue_out.csv", "ermission"), never=("PermissionError",)),
    Case("output-unwritable-apply", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", UNWRITABLE), 1, ("prepkit_catalogue_out.csv", "ermission"), never=("PermissionError",)),
    Case("output-unwritable-report", ("run", "recipes/simple.yaml", "--report", "/sys/prepkit_catalogue_report.json"), 1, ("prepkit_catalogue_report.json",)),
    Case("output-unwritable-fitted", ("run", "recipes/simple.yaml", "--fitted", "/sys/prepkit_catalogue.prepkit.json"), 1, ("prepkit_catalogue.prepkit.json",)),
    Case("output-fitted-is-folder", ("run", "recipes/simple.yaml", "--fitted", "out/model.prepkit.json"), (1, 2), ("model.prepkit.json", "folder"), setup=_fitted_is_folder),
    Case("output-split-part-is-folder", ("run", "recipes/split.yaml"), (1, 2), ("small_train.csv", "folder"), setup=_train_part_is_folder),
    Case("output-format-exel", ("run", "recipes/simple.yaml", "--output-format", "exel"), 2, ("exel",), hint="csv"),
    Case("output-apply-format-exel", (*APPLY, "--output-format", "exel"), 2, ("exel",), hint="csv"),
    Case("output-stdout-with-split", ("run", "recipes/split.yaml", "-o", "-"), 2, ("split",), hint="file path"),
    Case("output-stdout-image-recipe", ("run", "recipes/images.yaml", "-o", "-"), 2, ("images", "-o -|stdout|standard output"), hint="folder", never=(".tmp", "/tmp/")),
    # -- streams --------------------------------------------------------------------------------
    Case("stdin-empty", ("run", "recipes/simple.yaml", "-i", "-", "-o", "out/s.csv"), 1, ("stdin|standard input", "empty"), stdin=""),
    Case("stdin-header-only", ("run", "recipes/simple.yaml", "-i", "-", "-o", "out/s.csv"), 1, ("stdin|standard input", "no rows"), stdin="a,b,c,y\n"),
    Case("stdin-garbage-parquet", ("run", "recipes/simple.yaml", "-i", "-", "-o", "out/s.csv", "--format", "parquet"), 1, ("stdin|standard input", "parquet"), hint=None, stdin="a,b\n1,2\n"),
    Case("stdin-closed", ("run", "recipes/simple.yaml", "-i", "-", "-o", "out/s.csv", "-q"), 1, ("stdin|standard input", "closed"), hint=None, proc="close-stdin"),
    Case("stdout-closed", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "-", "-q"), 1, ("stdout|standard output", "closed"), hint=None, proc="close-stdout"),
    Case("stdout-broken-pipe", ("apply", "fitted/churn.prepkit.json", "sample_data/churn_new.csv", "-o", "-", "-q"), (0, 1, 141), (), hint=None, never=("BrokenPipe", "Exception ignored", "error"), proc="pipe"),
]  # fmt: skip


def _invoke(case: Case, ws: Path) -> tuple[int, str]:
    if case.proc is None:
        result = runner.invoke(app, list(case.args), input=case.stdin)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        return result.exit_code, result.stderr
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "prepkit", *case.args]

    def limits() -> None:  # a run-away YAML must fail here, not take the machine down
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        if case.proc == "close-stdin":
            os.close(0)
        if case.proc == "close-stdout":
            os.close(1)

    stdout = subprocess.PIPE if case.proc == "pipe" else subprocess.DEVNULL
    proc = subprocess.Popen(
        command, cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
        stderr=subprocess.PIPE, preexec_fn=limits,
    )  # fmt: skip
    if case.proc == "pipe":
        proc.stdout.close()  # the reader went away before the first byte (`| head -0`)
    try:
        _, stderr = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"prepkit did not finish within {case.timeout} s")
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return code, stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, workspace: Path) -> None:
    for rel, content in case.files.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.setup is not None:
        case.setup(workspace)
    before = snapshot(workspace)

    code, stderr = _invoke(case, workspace)
    text = " ".join(stderr.split())

    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    assert code in codes, f"exit {code}, expected {case.code}: {stderr}"
    for fragment in case.says:  # "a|b": either
        assert any(f in text for f in fragment.split("|")), f"{fragment!r} not in: {stderr}"
    if case.hint is not None:
        assert any(f in text for f in case.hint.split("|")), f"no hint {case.hint!r} in: {stderr}"
    for fragment in case.never:
        assert fragment not in text, f"{fragment!r} should not be in: {stderr}"
    after = snapshot(workspace)
    assert sorted(set(after) - set(before)) == [], "a failed command wrote files"
    changed = [rel for rel in before if after.get(rel) != before[rel]]
    assert changed == [], "a failed command changed its inputs"
    leftovers = [p for p in workspace.rglob(".*.tmp")] + [p for p in workspace.rglob("*.tmp")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_catalogue_is_large_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 70
