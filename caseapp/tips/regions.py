"""The configurable region list (province → city → district → township) of the portal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import current_app

DEFAULT_FILE = Path(__file__).with_name("regions.json")


@dataclass(frozen=True)
class Place:
    """One district or township, with the names of the levels above it."""

    code: str
    name: str
    en: str
    parent: str  # "河南省 驻马店市" for a district, the district code for a township
    parent_en: str


@dataclass(frozen=True)
class Regions:
    """Districts (stored in clear on a tip) and townships (kept inside the envelope)."""

    districts: tuple[Place, ...]
    townships: tuple[Place, ...]

    def district(self, code: str) -> Place | None:
        """The district with this code."""
        return next((d for d in self.districts if d.code == code), None)

    def township(self, code: str) -> Place | None:
        """The township with this code."""
        return next((t for t in self.townships if t.code == code), None)

    def label(self, code: str, locale: str = "zh_CN") -> str:
        """A human name for a district or township code (the code itself when unknown)."""
        place = self.district(code) or self.township(code)
        if place is None:
            return code
        return place.en if locale == "en" else place.name


@lru_cache(maxsize=8)
def load(path: Path) -> Regions:
    """Read a region file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    districts: list[Place] = []
    townships: list[Place] = []
    for prov in raw["provinces"]:
        for city in prov["cities"]:
            parent = f"{prov['name']} {city['name']}"
            parent_en = f"{city.get('en', city['name'])}, {prov.get('en', prov['name'])}"
            for dist in city["districts"]:
                districts.append(Place(str(dist["code"]), dist["name"],
                                       dist.get("en", dist["name"]), parent, parent_en))
                for town in dist.get("townships", []):
                    townships.append(Place(str(town["code"]), town["name"],
                                           town.get("en", town["name"]), str(dist["code"]),
                                           dist.get("en", dist["name"])))
    return Regions(tuple(districts), tuple(townships))


def regions() -> Regions:
    """The region list of the current app."""
    return load(current_app.config["CASEAPP"].regions_file or DEFAULT_FILE)
