"""The site CA: the broker's server certificate and device certificates from CSRs."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.ca import CertificateAuthority, CertificateError, cert_pem

SITE = "hotel-a"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(SITE)


def _csr(common_name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_ca_is_a_ca_and_its_key_is_0600(ca: CertificateAuthority, tmp_path: Path) -> None:
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    ca.save(tmp_path / "ca" / "ca.key", tmp_path / "ca.crt")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(tmp_path / "ca" / "ca.key", tmp_path / "ca.crt")
    assert loaded.cert == ca.cert


def test_server_certificate_names_every_host(ca: CertificateAuthority) -> None:
    _key, cert = ca.issue_server(SITE, ["mqtt.hotel-a.lan", "10.0.0.2"])
    cert.verify_directly_issued_by(ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mqtt.hotel-a.lan"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.2")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_bad_host_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError):
        ca.issue_server(SITE, ["mqtt host"])
    with pytest.raises(CertificateError):
        ca.issue_server(SITE, [])


def test_device_csr_is_signed_for_its_public_key_only(ca: CertificateAuthority) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())  # stays "on the device"
    cert = ca.sign_device_csr(_csr("edge-01", device_key), "edge-01", SITE)
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edge-01"
    assert cert.public_key() == device_key.public_key()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "PRIVATE KEY" not in cert_pem(cert)


def test_csr_for_another_device_or_weak_key_is_refused(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateError, match="not for device"):
        ca.sign_device_csr(_csr("edge-02", key), "edge-01", SITE)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    with pytest.raises(CertificateError, match="2048"):
        ca.sign_device_csr(_csr("edge-01", weak), "edge-01", SITE)
    with pytest.raises(CertificateError):
        ca.sign_device_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "edge-01", SITE)
