"""The site's certificate authority: one per site, ECDSA P-256, made with ``cryptography``.

It signs the broker's server certificate (SAN: the host names and IPs the edges dial) and, from a
CSR, a device's client certificate: the device's private key never leaves the device, only its
public key (inside the CSR) reaches us. The CA key stays in the provisioning folder (0600), never
in the folder the broker mounts.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.fs import write_public, write_secret

logger = logging.getLogger(__name__)

CA_DAYS = 3650
SERVER_DAYS = 825
DEVICE_DAYS = 825
MIN_RSA_BITS = 2048
_BACKDATE = timedelta(minutes=5)  # tolerate small clock skew on devices


class CertificateError(ValueError):
    """A CSR or certificate input that cannot be used; the message says why."""


def _name(common_name: str, site: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "innsight"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def san_entries(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """``IPAddress`` for IP literals, ``DNSName`` for names."""
    entries: list[x509.GeneralName] = []
    for host in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() or c in "/:@" for c in host):
                raise CertificateError(f"not a host name or IP address: {host!r}") from None
            entries.append(x509.DNSName(host))
    return entries


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, site: str, *, days: int = CA_DAYS) -> CertificateAuthority:
        key = _new_key()
        name = _name(f"innsight {site} CA", site)
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        logger.info("created the CA of site %s", site)
        return cls(key, cert)

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> CertificateAuthority:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{key_path}: not an EC private key")
        return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))

    def save(self, key_path: Path, cert_path: Path) -> None:
        write_secret(key_path, key_pem(self.key))
        write_public(cert_path, cert_pem(self.cert))

    def _leaf(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        *,
        days: int,
        usage: x509.ObjectIdentifier,
        san: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_server(
        self, site: str, hosts: Sequence[str], *, days: int = SERVER_DAYS
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A new key and certificate for the broker, valid for every name/IP in ``hosts``."""
        if not hosts:
            raise CertificateError("the broker certificate needs at least one host name or IP")
        key = _new_key()
        cert = self._leaf(
            _name(hosts[0], site),
            key.public_key(),
            days=days,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            san=san_entries(hosts),
        )
        return key, cert

    def sign_device_csr(
        self, csr_pem: bytes, device_id: str, site: str, *, days: int = DEVICE_DAYS
    ) -> x509.Certificate:
        """A client certificate (CN = ``device_id``) for the public key in ``csr_pem``.

        The CSR must be self-signed correctly (proof that the device holds the key) and carry an
        EC P-256/P-384 or RSA >= 2048 key; a CN other than the device id is refused, to catch a
        CSR made for another device. Only the public key is taken from it.
        """
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as err:
            raise CertificateError(f"not a PEM certificate signing request: {err}") from None
        if not csr.is_signature_valid:
            raise CertificateError("the CSR's signature does not verify")
        public_key = csr.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if public_key.curve.name not in ("secp256r1", "secp384r1"):
                raise CertificateError(f"unsupported EC curve {public_key.curve.name}")
        elif isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < MIN_RSA_BITS:
                raise CertificateError(f"RSA key of {public_key.key_size} bits: need 2048+")
        else:
            raise CertificateError(f"unsupported key type {type(public_key).__name__}")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if names and names[0].value != device_id:
            raise CertificateError(
                f"the CSR is for CN={names[0].value!r}, not for device {device_id!r}"
            )
        cert = self._leaf(
            _name(device_id, site),
            public_key,
            days=days,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        logger.info("signed a client certificate for device %s", device_id)
        return cert
