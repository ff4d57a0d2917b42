"""XMP sidecars: star ratings and scores that darktable, digiKam and Lightroom read where photographers cull.

``persona-iaa score ... --write-xmp`` writes, next to each scored photo, an XMP sidecar holding
``xmp:Rating`` (1 to 5 stars) and the scores and traits in our namespace (:data:`PERSONA_NS`, prefix
``personaiaa``). The photo itself is never opened for writing. An existing sidecar is updated in
place: only our properties and ``xmp:Rating`` change, everything else (a darktable history, keywords,
labels, comments, the ``xpacket`` wrapper) is kept; a sidecar that is not XMP is left alone and reported.

Why after scoring, from the results: quantile stars rank each photo among the whole run, which is
known only at the end; reading the finished results file (the rows of every resumed part included)
also makes ``--resume`` simple: sidecars are written again from the complete file, and rewriting a
sidecar with the same values changes nothing.

Parsing is done by defusedxml (no DTDs, no entities: a sidecar is untrusted input) into a DOM that
keeps prefixes, comments and processing instructions; writes are atomic.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import stat
from pathlib import Path
from typing import Callable, Iterable, Optional, cast
from xml.dom.minidom import Attr, Document, Element
from xml.parsers.expat import ExpatError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml import minidom as defused_minidom

from ..constants import TRAIT_NAMES, TRAITS, XMP_NAMINGS, XMP_STAR_METHODS
from ..errors import ConfigError, PersonaIAAError
from ..files import atomic_write
from .writers import Row

logger = logging.getLogger(__name__)

XMP_NS = "http://ns.adobe.com/xap/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
#: Our namespace: Score, Aesthetic, the five traits by name, and how the stars were given.
PERSONA_NS = "http://ns.persona-iaa.org/xmp/1.0/"
_PREFIXES = {XMP_NS: "xmp", PERSONA_NS: "personaiaa"}
STAR_METHODS, NAMINGS = XMP_STAR_METHODS, XMP_NAMINGS  # in constants: the CLI lists them without torch
#: Fixed thresholds on the final score: below 0.4 one star, [0.4, 0.5) two, ... 0.7 and above five
#: (on AVA's scale, mean votes 4, 5, 6 and 7 of 10; 0.5 is the paper's good/bad boundary).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7)
MAX_SIDECAR_BYTES = 16 << 20  # darktable histories are kilobytes; anything far larger is not a sidecar
_NEW_SIDECAR = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="persona-iaa">\n'
                b' <rdf:RDF xmlns:rdf="' + RDF_NS.encode() + b'">\n'
                b'  <rdf:Description rdf:about=""/>\n'
                b' </rdf:RDF>\n'
                b'</x:xmpmeta>\n')
Property = tuple[str, str]  # (namespace, local name)


class SidecarError(PersonaIAAError):
    """One sidecar could not be written; the photo's other sidecars and the run go on."""


@dataclasses.dataclass(frozen=True)
class XmpOptions:
    """How stars are given (``quantile`` of the run or ``fixed`` ``thresholds`` on the score) and named.

    ``naming``: ``darktable`` writes ``photo.jpg.xmp`` (also digiKam's default), ``lightroom``
    ``photo.xmp`` (Lightroom; digiKam's compatible option); ``auto`` updates whichever exists (both if
    both do) and creates ``photo.jpg.xmp`` otherwise.
    """

    stars: str = "quantile"
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    naming: str = "auto"

    def __post_init__(self) -> None:
        if self.stars not in STAR_METHODS:
            raise ConfigError(f"--stars must be one of {', '.join(STAR_METHODS)}, not {self.stars!r}")
        if self.naming not in NAMINGS:
            raise ConfigError(f"--xmp-naming must be one of {', '.join(NAMINGS)}, not {self.naming!r}")
        values = tuple(self.thresholds)
        if (len(values) != 4 or not all(math.isfinite(v) for v in values)
                or any(a >= b for a, b in zip(values, values[1:]))):
            raise ConfigError("--star-thresholds needs four increasing numbers (the scores of 2, 3, 4 and 5 "
                              f"stars), e.g. {','.join(map(str, DEFAULT_THRESHOLDS))}")


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.4,0.5,0.6,0.7"`` as numbers (checked by :class:`XmpOptions`)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--star-thresholds: {text!r} is not a list of numbers, "
                          "e.g. 0.4,0.5,0.6,0.7") from None


def fixed_stars(scores: Iterable[float], thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """1 star below the first threshold, one more at each threshold reached."""
    edges = np.asarray(thresholds, dtype=np.float64)
    return 1 + np.searchsorted(edges, np.asarray(scores, dtype=np.float64), side="right")


def quantile_stars(scores: Iterable[float]) -> np.ndarray:
    """Quintiles of the run: the lowest fifth of the scores 1 star ... the highest fifth 5.

    A photo's place is its mid-rank ``(rank - 0.5) / n`` (tied scores share their average rank, so
    equal scores get equal stars; a run of one photo gets 3).
    """
    from scipy.stats import rankdata

    values = np.asarray(list(scores), dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    place = (rankdata(values) - 0.5) / values.size
    return np.minimum(5, 1 + np.floor(5 * place)).astype(np.int64)


def sidecar_paths(image: str, naming: str = "auto") -> list[Path]:
    """The sidecar(s) of ``image`` under a naming convention (see :class:`XmpOptions`)."""
    darktable, lightroom = Path(image + ".xmp"), Path(os.path.splitext(image)[0] + ".xmp")
    if naming == "darktable":
        return [darktable]
    if naming == "lightroom":
        return [lightroom]
    return [p for p in dict.fromkeys((darktable, lightroom)) if os.path.lexists(p)] or [darktable]


def sidecar_properties(row: Row, stars: int, basis: str) -> dict[Property, Optional[str]]:
    """What a sidecar gets for one scored row; None removes a property (e.g. traits a model lacks)."""
    values: dict[Property, Optional[str]] = {(XMP_NS, "Rating"): str(int(stars))}
    named = {"Score": row.get("score"), "Aesthetic": row.get("aesthetic")}
    named.update({TRAIT_NAMES[t]: row.get(t) for t in TRAITS})
    values.update({(PERSONA_NS, k): (None if v is None else repr(float(v))) for k, v in named.items()})
    values[(PERSONA_NS, "RatingBasis")] = basis
    return values


@dataclasses.dataclass
class SidecarReport:
    """Sidecars written, and one (path, reason) per photo or sidecar left without one."""

    written: int = 0
    problems: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def write_sidecars(rows: Callable[[], Iterable[Row]], options: XmpOptions = XmpOptions()) -> SidecarReport:
    """Write the sidecars of every scored row; rows with an error get none.

    ``rows`` is called once (fixed stars) or twice (quantile stars: the scores first, for the ranks),
    so a results file of any size is streamed, never held in memory.
    """
    if options.stars == "quantile":
        scores = [float(r["score"]) for r in rows() if r.get("score") is not None]
        stars, basis = iter(quantile_stars(scores)), f"quantile of {len(scores)} photos"
    else:
        stars, basis = None, "fixed thresholds " + ",".join(map(str, options.thresholds))
    report, claimed = SidecarReport(), dict[Path, str]()
    for row in rows():
        if row.get("score") is None:
            continue
        count = next(stars) if stars is not None else fixed_stars([row["score"]], options.thresholds)[0]
        _write_for_photo(row, sidecar_properties(row, count, basis), options.naming, claimed, report)
    return report


def _write_for_photo(row: Row, values: dict[Property, Optional[str]], naming: str, claimed: dict[Path, str],
                     report: SidecarReport) -> None:
    image = row["path"]
    if not os.path.lexists(image):
        report.problems.append((image, "photo not found; no sidecar written"))
        return
    for sidecar in sidecar_paths(image, naming):
        owner = claimed.setdefault(sidecar, image)
        if owner != image:
            report.problems.append((str(sidecar), f"shared with {owner}, whose rating it keeps"))
        elif os.path.abspath(sidecar) == os.path.abspath(image):
            report.problems.append((image, "the photo itself ends in .xmp; it is never written"))
        else:
            try:
                update_sidecar(sidecar, values)
                report.written += 1
            except SidecarError as exc:
                report.problems.append((str(sidecar), str(exc)))


def update_sidecar(path: Path, values: dict[Property, Optional[str]]) -> None:
    """Set ``values`` in the sidecar at ``path`` (created if absent), keeping everything else; atomic."""
    doc = _parse(_read_sidecar(path) if os.path.lexists(path) else _NEW_SIDECAR)
    descriptions = _descriptions(doc)
    for (namespace, name), value in values.items():
        _set_property(descriptions, namespace, name, value)
    data = doc.toxml(encoding="utf-8").replace(b"?>", b"?>\n", 1)  # a line break after the XML declaration
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as exc:
        raise SidecarError(f"cannot write ({exc.strerror or exc})") from None


def _read_sidecar(path: Path) -> bytes:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError("not a regular file; left as it is")
        if info.st_size > MAX_SIDECAR_BYTES:
            raise SidecarError(f"larger than {MAX_SIDECAR_BYTES >> 20} MB, not a sidecar; left as it is")
        return path.read_bytes()
    except OSError as exc:
        raise SidecarError(f"cannot read ({exc.strerror or exc}); left as it is") from None


def _parse(data: bytes) -> Document:
    try:
        return defused_minidom.parseString(data, forbid_dtd=True)
    except (ExpatError, DefusedXmlException, ValueError) as exc:
        raise SidecarError(f"not well-formed XML ({exc}); left as it is") from None


def _descriptions(doc: Document) -> list[Element]:
    """The top-level ``rdf:Description`` elements (one is added when ``rdf:RDF`` has none)."""
    rdf = doc.getElementsByTagNameNS(RDF_NS, "RDF")
    if not rdf:
        raise SidecarError("not an XMP sidecar (no rdf:RDF); left as it is")
    found = _children(rdf[0], RDF_NS, "Description")
    if not found:
        qualified = f"{rdf[0].prefix}:Description" if rdf[0].prefix else "Description"
        description = rdf[0].appendChild(doc.createElementNS(RDF_NS, qualified))
        description.setAttributeNS(RDF_NS, qualified.replace("Description", "about"), "")
        found = [description]
    return found


def _children(node: Element, namespace: str, name: str) -> list[Element]:
    """The child elements of ``node`` named ``name`` in ``namespace`` (text and comments skipped)."""
    return [
        n for n in node.childNodes
        if isinstance(n, Element) and n.namespaceURI == namespace and n.localName == name
    ]


def _set_property(descriptions: list[Element], namespace: str, name: str, value: Optional[str]) -> None:
    """Update the property where it is (attribute or element form), or add it as an attribute of the first
    description; ``None`` removes it."""
    present = False
    for description in descriptions:
        if description.hasAttributeNS(namespace, name):
            present = True
            if value is None:
                description.removeAttributeNS(namespace, name)
            else:
                qualified = cast(Attr, description.getAttributeNodeNS(namespace, name)).name
                description.setAttributeNS(namespace, qualified, value)
        for element in _children(description, namespace, name):
            present = True
            if value is None:
                description.removeChild(element)
                continue
            for child in list(element.childNodes):
                element.removeChild(child)
            element.appendChild(cast(Document, element.ownerDocument).createTextNode(value))
    if not present and value is not None:
        prefix = _prefix(descriptions[0], namespace)
        descriptions[0].setAttributeNS(namespace, f"{prefix}:{name}", value)


def _prefix(element: Element, namespace: str) -> str:
    """The prefix bound to ``namespace`` where ``element`` is, declaring ours on it when none is."""
    bound: dict[str, str] = {}
    node: object = element
    while isinstance(node, Element):
        for attribute in node.attributes.values():
            if attribute.name.startswith("xmlns:"):
                bound.setdefault(attribute.name[6:], attribute.value)  # the nearest declaration wins
        node = node.parentNode
    for prefix, uri in bound.items():
        if uri == namespace:
            return prefix
    preferred = _PREFIXES.get(namespace, "ns")
    prefix, n = preferred, 1
    while prefix in bound:
        prefix, n = f"{preferred}{n}", n + 1
    # declarations go before the other attributes, where a parser puts them: a sidecar written again
    # with the same values (``--resume``) is then byte for byte the same
    others = [a for a in element.attributes.values() if not a.name.startswith("xmlns")]
    for attribute in others:
        element.removeAttributeNode(attribute)
    element.setAttributeNS(XMLNS_NS, f"xmlns:{prefix}", namespace)
    for attribute in others:
        element.setAttributeNodeNS(attribute)
    return prefix
