"""The simulator's DNC side: documents (CNC programs), their versions and the exchange folder.

Deterministic for a seed: each DNC station owns a few programs with one to three versions of
G-code. Writes (create, submit, certify, delete) change the store; ``exchange`` stands for
CWork's ``/Temp/API-io/`` folder, where files are handed over by name.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from .world import StationInfo, WorldError

STATUSES = ("VALIDATED", "TESTING", "DRAFT")
EXTENSIONS = ("MPF", "NC", "H", "CNC")


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    document_id: int
    alias_of: int
    reference: str
    extension: str
    folder: str
    station: int
    emergency: int
    created: datetime
    modified: datetime
    custom: tuple[str, str, str, str, str]
    protected: bool
    archived: bool
    in_bin: bool = False


@dataclass(frozen=True, slots=True)
class VersionRecord:
    version_id: int
    document_id: int
    status: str
    primary_index: str
    secondary_index: str
    created: datetime
    modified: datetime
    received: datetime | None
    sent: datetime | None
    comment: str
    content: bytes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content, usedforsecurity=False).hexdigest().upper()


@dataclass
class DncStore:
    documents: dict[int, DocumentRecord] = field(default_factory=dict)
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    exchange: dict[str, bytes] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_document: int = 1
    _next_version: int = 1
    _random: random.Random = field(default_factory=random.Random)

    @classmethod
    def generate(cls, stations: list[StationInfo], *, seed: int, now: datetime) -> DncStore:
        store = cls(_random=random.Random(f"dnc-{seed}"))
        rng = random.Random(f"dnc-docs-{seed}")
        for station in stations:
            if not station.dnc_mode:
                continue
            for n in range(rng.randint(2, 4)):
                created = now - timedelta(days=rng.randint(20, 400), minutes=rng.randint(0, 999))
                document = store._add_document(
                    reference=f"{rng.randint(1000, 9899)}",
                    extension=rng.choice(EXTENSIONS),
                    folder="" if n else "Production\\",
                    station=station.handle,
                    created=created,
                    custom=(f"Part {rng.randint(100, 999)}", "Roughing", "", "Milling", "A"),
                    protected=rng.random() < 0.2,
                )
                for k in range(rng.randint(1, 3)):
                    store._add_version(
                        document.document_id,
                        content=_gcode(rng, document.reference, k),
                        comment=f"Revision {k + 1}",
                        when=created + timedelta(days=7 * k),
                        status=STATUSES[0] if k == 0 else rng.choice(STATUSES),
                    )
        return store

    # --- documents ---------------------------------------------------------------------------

    def _add_document(
        self,
        *,
        reference: str,
        extension: str,
        folder: str,
        station: int,
        created: datetime,
        custom: tuple[str, str, str, str, str],
        protected: bool,
    ) -> DocumentRecord:
        document = DocumentRecord(
            document_id=self._next_document,
            alias_of=0,
            reference=reference,
            extension=extension,
            folder=folder,
            station=station,
            emergency=0,
            created=created,
            modified=created,
            custom=custom,
            protected=protected,
            archived=False,
        )
        self.documents[document.document_id] = document
        self._next_document += 1
        return document

    def document(self, document_id: int) -> DocumentRecord:
        document = self.documents.get(document_id)
        if document is None or document.in_bin:
            raise WorldError(2008, "There is no document found with this ID")
        return document

    def find(
        self,
        *,
        reference: str | None,
        extension: str | None,
        stations: set[int] | None,
        recycle_bin: str,
    ) -> list[DocumentRecord]:
        found = []
        for document in self.documents.values():
            if recycle_bin == "exclude" and document.in_bin:
                continue
            if recycle_bin == "only" and not document.in_bin:
                continue
            if reference is not None and document.reference != reference:
                continue
            if extension is not None and document.extension.lower() != extension.lower():
                continue
            if stations is not None and document.station not in stations:
                continue
            found.append(document)
        return found

    def create_document(
        self, *, reference: str, station: int, now: datetime, **values: object
    ) -> DocumentRecord:
        extension = str(values.get("extension") or "")
        folder = str(values.get("folder") or "")
        custom = [str(values.get(f"custom{n}") or "") for n in range(1, 6)]
        for existing in self.documents.values():
            if (existing.reference, existing.extension, existing.station, existing.folder) == (
                reference,
                extension,
                station,
                folder,
            ) and not existing.in_bin:
                raise WorldError(2012, "Document already exists")
        return self._add_document(
            reference=reference,
            extension=extension,
            folder=folder,
            station=station,
            created=now,
            custom=(custom[0], custom[1], custom[2], custom[3], custom[4]),
            protected=bool(values.get("protected")),
        )

    def delete_document(self, station: int, document_id: int) -> None:
        document = self.document(document_id)
        if document.station != station:
            raise WorldError(2008, "There is no document found with this ID")
        self.documents[document_id] = replace(document, in_bin=True)

    # --- versions ----------------------------------------------------------------------------

    def _add_version(
        self, document_id: int, *, content: bytes, comment: str, when: datetime, status: str
    ) -> VersionRecord:
        previous = self.versions_of(document_id)
        index = len(previous)
        version = VersionRecord(
            version_id=self._next_version,
            document_id=document_id,
            status=status,
            primary_index=chr(ord("A") + index // 10),
            secondary_index=str(index % 10 + 1),
            created=when,
            modified=when,
            received=when,
            sent=None,
            comment=comment,
            content=content,
        )
        self.versions[version.version_id] = version
        self._next_version += 1
        return version

    def versions_of(self, document_id: int) -> list[VersionRecord]:
        return [v for v in self.versions.values() if v.document_id == document_id]

    def version(self, version_id: int, document_id: int | None = None) -> VersionRecord:
        version = self.versions.get(version_id)
        if version is None:
            raise WorldError(2013, "There is no version found with this version ID")
        if document_id is not None and version.document_id != document_id:
            self.document(document_id)
            raise WorldError(
                2014,
                "The version identified by the verid provided does not belong to the document "
                "identified by the provided docid",
            )
        return version

    def share(self, version: VersionRecord) -> str:
        """Copy a version's content into the exchange folder under a fresh temporary name."""
        name = "".join(
            self._random.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", k=10)
        )
        self.exchange[name] = version.content
        return name

    def submit(
        self, document_id: int, *, file_name: str, md5: str, comment: str, now: datetime
    ) -> VersionRecord:
        self.document(document_id)
        content = self.exchange.get(file_name)
        if content is None:
            raise WorldError(2015, "The specified file has not been found in the exchange folder")
        expected = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if md5 and md5.lower() != expected:
            raise WorldError(
                2017,
                "The provided MD5 differs from the server-side processed MD5 hash. "
                "There might be an issue with the file integrity",
            )
        del self.exchange[file_name]
        return self._add_version(
            document_id, content=content, comment=comment, when=now, status="TESTING"
        )

    def certify(self, version: VersionRecord, new_status: str, now: datetime) -> VersionRecord:
        certified = replace(version, status=new_status, modified=now)
        self.versions[version.version_id] = certified
        return certified

    def delete_version(self, station: int, version_id: int) -> None:
        version = self.version(version_id)
        if self.documents[version.document_id].station != station:
            raise WorldError(2013, "There is no version found with this version ID")
        del self.versions[version_id]

    def current_version(self, document_id: int) -> VersionRecord | None:
        versions = self.versions_of(document_id)
        return versions[-1] if versions else None


def _gcode(rng: random.Random, reference: str, revision: int) -> bytes:
    lines = ["%", f"O{reference} (REV {revision + 1})", "G21 G90 G40 G80", "T1 M06", "S8000 M03"]
    for _ in range(rng.randint(6, 14)):
        lines.append(
            f"G01 X{rng.uniform(-80, 80):.3f} Y{rng.uniform(-60, 60):.3f} "
            f"Z{rng.uniform(-12, 2):.3f} F{rng.choice((800, 1200, 1500))}"
        )
    lines += ["G00 Z50.0", "M05", "M30", "%"]
    return ("\n".join(lines) + "\n").encode("ascii")
