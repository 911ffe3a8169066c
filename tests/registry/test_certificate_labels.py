"""Certificate kinds and statuses have the Chinese names people read, and the import takes
each name back as its value."""

from __future__ import annotations

import pytest

from registry.models import (
    CERTIFICATE_KIND_LABELS,
    CERTIFICATE_STATUS_LABELS,
    CertificateKind,
    CertificateStatus,
    certificate_kind_label,
    certificate_status_label,
)
from registry.schema import CERTIFICATES
from registry.validate import parse_enum


@pytest.mark.parametrize(
    ("enum_class", "labels"),
    [(CertificateKind, CERTIFICATE_KIND_LABELS), (CertificateStatus, CERTIFICATE_STATUS_LABELS)],
)
def test_every_member_has_a_label_the_import_reads_back(
    enum_class: type[CertificateKind] | type[CertificateStatus], labels: dict
) -> None:
    assert set(labels) == set(enum_class)
    assert len(set(labels.values())) == len(labels)  # no two members share a name
    column = next(c for c in CERTIFICATES.columns if c.enum is enum_class)
    for member, label in labels.items():
        assert parse_enum(label, column) == member.value


def test_a_value_is_shown_by_its_label_or_as_it_is() -> None:
    assert certificate_kind_label("ccc") == "强制性产品认证"
    assert certificate_kind_label(CertificateKind.voluntary_other) == "其他自愿性认证"
    assert certificate_status_label("suspended") == "暂停"
    # a bureau's own data in a template test, not a registry value: shown unchanged
    assert certificate_kind_label("other") == "other"
    assert certificate_status_label("") == ""
