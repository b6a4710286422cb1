"""The built wheel is a working install: the top-level queries/ and reports/ folders ship inside the
package (echoroom/queries, echoroom/reports), with the committed lenses and the demo chats, and the
installed code finds them outside any checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from; the rest of the checkout (tests, docs, bench, .venv) is not needed.
SOURCES = ("pyproject.toml", "README.md", "echoroom", "jobs", "queries", "reports")

# Run by the installed copy, outside the checkout: a query by name, a template, the lenses, the demo.
CHECK = """
import json, sys
from echoroom import store
from echoroom.lenses import default_lens_folders
from echoroom.report import render
from echoroom.run import config
con = store.connect(sys.argv[1])
tables = sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
print(json.dumps({
    "store": store.__file__, "queries": str(store.QUERIES_DIR), "templates": str(render.TEMPLATES_DIR),
    "sql": store.load_sql("scored_ids"), "tables": tables,
    "template": render.environment().get_template("email.txt.j2").filename,
    "lenses": [str(f / "lens.json") for f in default_lens_folders().values() if (f / "lens.json").is_file()],
    "demo": sorted(p.name for p in config.DEMO_DIR.glob("*.txt")),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy so the checkout gets no build/ folder; setuptools and wheel from this venv.
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = dist.glob("echoroom-*.whl")
    return path


def test_the_wheel_holds_the_sql_the_templates_the_lenses_and_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"echoroom/queries/{p.name}" for p in (ROOT / "queries").glob("*.sql")}
    want |= {f"echoroom/reports/{p.name}" for p in (ROOT / "reports").glob("*.j2")}
    want |= {f"echoroom/demo/{p.name}" for p in (ROOT / "echoroom" / "demo").glob("*.txt")}
    for lens in ("author", "reader"):
        want |= {f"echoroom/lenses/{lens}/{p.name}" for p in (ROOT / "echoroom" / "lenses" / lens).iterdir()
                 if p.suffix in (".safetensors", ".json")}
    # pyproject.toml lists the packages by hand (package-dir needs it): a new one must be added there.
    want |= {str(p.relative_to(ROOT)) for p in (ROOT / "echoroom").rglob("__init__.py")}
    assert len(want) > 50
    assert sorted(want - names) == []
    assert "jobs/score.py" in names
    assert not [n for n in names if n.startswith(("queries/", "reports/"))], "no top-level data folders"


def test_the_installed_wheel_finds_its_queries_templates_lenses_and_demo(wheel, tmp_path):
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
                          "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # Outside the checkout, with the target first on the path: the installed copy is the one imported.
    env = {**os.environ, "PYTHONPATH": str(target)}
    got = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "x.duckdb")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-3000:]
    found = json.loads(got.stdout)
    assert Path(found["store"]).is_relative_to(target)
    assert Path(found["queries"]) == target / "echoroom" / "queries"
    assert Path(found["templates"]) == target / "echoroom" / "reports"
    assert found["sql"] == (ROOT / "queries" / "scored_ids.sql").read_text()
    assert {"messages", "predictions", "runs", "lenses"} <= set(found["tables"])
    assert Path(found["template"]).is_relative_to(target)
    assert len(found["lenses"]) == 2 and all(Path(p).is_relative_to(target) for p in found["lenses"])
    assert found["demo"] == sorted(p.name for p in (ROOT / "echoroom" / "demo").glob("*.txt"))
