"""XMP sidecars: stars, naming, in-place updates that keep foreign tags, exiftool read-back, --write-xmp."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from xml.dom import minidom

import numpy as np
import pytest

from persona_iaa.cli import main
from persona_iaa.inference.writers import read_rows
from persona_iaa.inference.xmp import (
    PERSONA_NS,
    XMP_NS,
    SidecarError,
    XmpOptions,
    fixed_stars,
    quantile_stars,
    sidecar_paths,
    sidecar_properties,
    update_sidecar,
    write_sidecars,
)

from .scoring_files import write_jpegs

EXIFTOOL = shutil.which("exiftool")
# in CI (.ci/run installs it) a missing exiftool fails these tests instead of skipping them
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None and not os.environ.get("CI"),
                                    reason="exiftool is not installed (Debian/Ubuntu: "
                                    "apt-get install libimage-exiftool-perl); CI installs it")

DARKTABLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<!-- written by darktable -->
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmp:Rating="1"
   darktable:xmp_version="5"
   darktable:history_end="1">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"/>
    </rdf:Seq>
   </darktable:history>
   <dc:subject><rdf:Bag><rdf:li>cat</rdf:li><rdf:li>sunset</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""

EXIFTOOL_STYLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:Rating>2</xmp:Rating>
   <xmp:Label>Red</xmp:Label>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:personaiaa="urn:someone-else">
   <personaiaa:Score>keep me</personaiaa:Score>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

LIGHTROOM_SIDECAR = EXIFTOOL_STYLE_SIDECAR.replace(
    """  <rdf:Description rdf:about="" xmlns:personaiaa="urn:someone-else">
   <personaiaa:Score>keep me</personaiaa:Score>
  </rdf:Description>
""", "")


def row(path: str = "/photos/a.jpg", score: float = 0.62, traits: tuple = (0.1, -0.2, 0.3, -0.4, 0.5)
        ) -> dict:
    made = {"path": path, "score": score, "aesthetic": 0.55}
    made.update(dict(zip("OCEAN", traits)))
    made["error"] = None
    return made


def exiftool(*args: str) -> list[dict]:
    done = subprocess.run([EXIFTOOL, "-j", "-G1", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def properties(path: Path) -> dict[tuple[str, str], list[str]]:
    """Properties of the sidecar's descriptions by (namespace, name), in attribute or element form."""
    found: dict[tuple[str, str], list[str]] = {}
    for description in minidom.parse(str(path)).getElementsByTagNameNS(
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "Description"):
        for attribute in description.attributes.values():
            found.setdefault((attribute.namespaceURI, attribute.localName), []).append(attribute.value)
        for child in description.childNodes:
            if child.nodeType == child.ELEMENT_NODE and child.firstChild is not None:
                found.setdefault((child.namespaceURI, child.localName), []).append(child.firstChild.data)
    return found


def test_fixed_stars_follow_the_thresholds_and_quantile_stars_split_the_run_in_fifths():
    stars = fixed_stars([0.1, 0.4, 0.45, 0.5, 0.69, 0.7, 3.0], (0.4, 0.5, 0.6, 0.7))
    assert stars.tolist() == [1, 2, 2, 3, 4, 5, 5]
    scores = np.random.default_rng(0).normal(0.5, 0.1, 100)
    stars = quantile_stars(scores)
    assert np.bincount(stars, minlength=6)[1:].tolist() == [20] * 5
    assert (np.diff(stars[np.argsort(scores)]) >= 0).all()  # a better score never gets fewer stars
    assert quantile_stars([0.3, 0.3, 0.3]).tolist() == [3, 3, 3] and quantile_stars([0.9]).tolist() == [3]


def test_naming_follows_each_tool_and_auto_finds_the_existing_sidecar(tmp_path):
    photo = str(tmp_path / "photo.jpg")
    assert sidecar_paths(photo, "darktable") == [tmp_path / "photo.jpg.xmp"]
    assert sidecar_paths(photo, "lightroom") == [tmp_path / "photo.xmp"]
    assert sidecar_paths(photo) == [tmp_path / "photo.jpg.xmp"]  # none yet: darktable's (digiKam's default)
    (tmp_path / "photo.xmp").write_text(EXIFTOOL_STYLE_SIDECAR)
    assert sidecar_paths(photo) == [tmp_path / "photo.xmp"]
    (tmp_path / "photo.jpg.xmp").write_text(DARKTABLE_SIDECAR)
    assert sidecar_paths(photo) == [tmp_path / "photo.jpg.xmp", tmp_path / "photo.xmp"]


def test_a_new_sidecar_holds_the_rating_scores_and_traits(tmp_path):
    path = tmp_path / "a.jpg.xmp"
    update_sidecar(path, sidecar_properties(row(), 4, "fixed"))
    found = properties(path)
    assert found[(XMP_NS, "Rating")] == ["4"]
    assert float(found[(PERSONA_NS, "Score")][0]) == 0.62
    assert float(found[(PERSONA_NS, "Neuroticism")][0]) == 0.5
    without_traits = row(traits=(None,) * 5)  # a model trained without the personality task
    update_sidecar(path, sidecar_properties(without_traits, 2, "fixed"))
    found = properties(path)
    assert found[(XMP_NS, "Rating")] == ["2"] and (PERSONA_NS, "Openness") not in found


def test_an_existing_sidecar_is_updated_in_place_and_keeps_everything_else(tmp_path):
    path = tmp_path / "a.jpg.xmp"
    path.write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    update_sidecar(path, sidecar_properties(row(), 5, "quantile of 9 photos"))
    text = path.read_text(encoding="utf-8")
    for kept in ('<?xpacket begin="\ufeff"', "<!-- written by darktable -->", '<?xpacket end="w"?>',
                 'darktable:operation="exposure"', "<rdf:li>sunset</rdf:li>", 'darktable:history_end="1"'):
        assert kept in text, kept
    assert 'xmp:Rating="5"' in text and text.count("Rating=") == 1
    update_sidecar(path, sidecar_properties(row(), 5, "quantile of 9 photos"))  # --resume writes it again
    assert path.read_text(encoding="utf-8") == text
    path.write_text(EXIFTOOL_STYLE_SIDECAR, encoding="utf-8")  # element form; our prefix bound elsewhere
    update_sidecar(path, sidecar_properties(row(), 3, "fixed"))
    found = properties(path)
    assert found[(XMP_NS, "Rating")] == ["3"] and found[(XMP_NS, "Label")] == ["Red"]
    assert found[("urn:someone-else", "Score")] == ["keep me"]
    assert float(found[(PERSONA_NS, "Score")][0]) == 0.62


@pytest.mark.parametrize("content, reason", [
    ("<x:xmpmeta", "not well-formed XML"),
    ('<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>', "XML"),
    ("<notes>my own file</notes>", "not an XMP sidecar"),
])
def test_a_sidecar_that_is_not_safe_xmp_is_left_exactly_as_it_is(tmp_path, content, reason):
    path = tmp_path / "a.jpg.xmp"
    path.write_text(content)
    with pytest.raises(SidecarError, match=reason):
        update_sidecar(path, sidecar_properties(row(), 5, "fixed"))
    assert path.read_text() == content


def test_write_sidecars_skips_failures_reports_problems_and_never_writes_a_photo(tmp_path):
    photos = write_jpegs(tmp_path, 3)
    before = {p: p.read_bytes() for p in photos}
    (tmp_path / "img_0002.jpg.xmp").mkdir()  # something in the way: reported, the others go on
    rows = [row(str(photos[0]), 0.8), {**row(str(photos[1])), "score": None, "error": "broken"},
            row(str(photos[2]), 0.3), row(str(tmp_path / "gone.jpg"), 0.5)]
    report = write_sidecars(lambda: rows, XmpOptions(stars="fixed"))
    assert report.written == 1 and (tmp_path / "img_0000.jpg.xmp").is_file()
    assert not (tmp_path / "img_0001.jpg.xmp").exists()
    assert [Path(p).name for p, _ in report.problems] == ["img_0002.jpg.xmp", "gone.jpg"]
    assert {p: p.read_bytes() for p in photos} == before


@needs_exiftool
def test_exiftool_reads_the_rating_and_scores_and_foreign_tags_survive(tmp_path):
    updated, created = tmp_path / "photo.jpg.xmp", tmp_path / "new.jpg.xmp"
    updated.write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    update_sidecar(updated, sidecar_properties(row(), 4, "fixed"))
    update_sidecar(created, sidecar_properties(row(score=0.25), 1, "fixed"))
    old, new = exiftool(str(updated), str(created))
    assert old["XMP-xmp:Rating"] == 4 and new["XMP-xmp:Rating"] == 1
    assert float(old["XMP-personaiaa:Score"]) == 0.62 and float(new["XMP-personaiaa:Score"]) == 0.25
    assert float(old["XMP-personaiaa:Openness"]) == 0.1
    assert old["XMP-dc:Subject"] == ["cat", "sunset"] and old["XMP-darktable:HistoryOperation"] == "exposure"
    assert old["XMP-darktable:Xmp_version"] == 5


@needs_exiftool
@pytest.mark.parametrize("stars", ["quantile", "fixed"])
def test_write_xmp_end_to_end_with_resume_and_an_existing_lightroom_sidecar(trained_run, tmp_path, stars):
    photos = write_jpegs(tmp_path / "photos", 6)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos}
    lightroom = photos[0].with_suffix(".xmp")
    lightroom.write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    out = tmp_path / "scores.csv"
    argv = ["score", "--checkpoint", str(trained_run), "--output", str(out), "--workers", "0"]
    assert main(argv + [str(p) for p in photos[:3]]) == 0  # an interrupted run: half the photos
    assert main(argv + [str(p) for p in photos] + ["--resume", "--write-xmp", "--stars", stars]) == 0
    scores = {r["path"]: r["score"] for r in read_rows(out)}
    expected = (quantile_stars(list(scores.values())) if stars == "quantile"
                else fixed_stars(list(scores.values())))
    sidecars = [str(lightroom)] + [f"{p}.xmp" for p in photos[1:]]
    assert not os.path.exists(f"{photos[0]}.xmp")  # auto naming updated the existing photo.xmp instead
    read = {Path(d["SourceFile"]).name: d for d in exiftool(*sidecars)}
    for photo, star in zip(photos, expected):
        sidecar = read[Path(sidecars[photos.index(photo)]).name]
        assert sidecar["XMP-xmp:Rating"] == star
        assert float(sidecar["XMP-personaiaa:Score"]) == pytest.approx(scores[str(photo)], abs=1e-12)
    assert read["img_0000.xmp"]["XMP-xmp:Label"] == "Red"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos} == before
