"""Certificate kinds and statuses have the Chinese names people read, and the import takes
each name back as its value."""

from __future__ import annotations

from datetime import date

import pytest

from registry.divisions import divisions
from registry.models import (
    CERTIFICATE_KIND_LABELS,
    CERTIFICATE_STATUS_LABELS,
    CertificateKind,
    CertificateStatus,
    certificate_kind_label,
    certificate_status_label,
)
from registry.schema import KINDS, Col, Kind
from registry.validate import RowValidator


def _columns(enum_class: type) -> list[tuple[Kind, Col]]:
    """Every column of every import file that holds ``enum_class`` (one value or a list)."""
    return [(kind, c) for kind in KINDS.values() for c in kind.columns if c.enum is enum_class]


@pytest.mark.parametrize(
    ("enum_class", "labels"),
    [(CertificateKind, CERTIFICATE_KIND_LABELS), (CertificateStatus, CERTIFICATE_STATUS_LABELS)],
)
def test_every_member_has_a_label_the_import_reads_back(
    enum_class: type[CertificateKind] | type[CertificateStatus], labels: dict
) -> None:
    """The labels shown (registry.models) and the words the import accepts (registry.schema's
    LABELS, many to one) are two tables: a label changed in one and not the other fails here.
    Each label is read by the import's own cell reader, in every column of its enum."""
    assert set(labels) == set(enum_class)
    assert len(set(labels.values())) == len(labels)  # no two members share a name
    columns = _columns(enum_class)
    assert ("certificates", "kind" if enum_class is CertificateKind else "status") in {
        (kind.name, c.name) for kind, c in columns
    }
    for kind, column in columns:
        reader = RowValidator(kind, "f.csv", divisions(), {}, date(2026, 12, 2))
        for member, label in labels.items():
            read = reader.cell(column, f" {label} ")
            assert read == ([member.value] if column.cell == "enum_list" else member.value), (
                kind.name, column.name, label)  # fmt: skip
        if column.cell == "enum_list":  # every label in one cell, as a list is written
            assert reader.cell(column, "；".join(labels.values())) == sorted(labels)


def test_a_value_is_shown_by_its_label_or_as_it_is() -> None:
    assert certificate_kind_label("ccc") == "强制性产品认证"
    assert certificate_kind_label(CertificateKind.voluntary_other) == "其他自愿性认证"
    assert certificate_status_label("suspended") == "暂停"
    # a bureau's own data in a template test, not a registry value: shown unchanged
    assert certificate_kind_label("other") == "other"
    assert certificate_status_label("") == ""
