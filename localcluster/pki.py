"""Certificates, keys and kubeconfig files for the local cluster (via ``cryptography``).

One CA signs a serving certificate for the apiserver and client certificates for the
admin user (O=system:masters) and for the controller-manager and scheduler (their
well-known RBAC identities). The service-account signing key is a separate RSA key.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .config import CLUSTER_DOMAIN, SERVICE_IP

VALIDITY = dt.timedelta(days=365)

ADMIN_USER = "localcluster-admin"
KCM_USER = "system:kube-controller-manager"
SCHEDULER_USER = "system:kube-scheduler"


def server_dns_names() -> list[str]:
    return [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
    ]


def server_ips() -> list[str]:
    return ["127.0.0.1", SERVICE_IP]


@dataclass(frozen=True)
class Pki:
    """Paths of every generated file (all under ``<state_dir>/pki``)."""

    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_crt(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client_crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name("localcluster-ca")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    cn: str,
    org: str | None = None,
    server: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate signed by the CA; ``server`` adds the apiserver SANs."""
    key = _new_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        _builder(_name(cn, org), ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in server_dns_names()]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips()]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


CLIENTS: dict[str, tuple[str, str | None]] = {
    "admin": (ADMIN_USER, "system:masters"),
    "controller-manager": (KCM_USER, None),
    "scheduler": (SCHEDULER_USER, None),
}


def generate(pki_dir: Path) -> Pki:
    """Write CA, apiserver serving cert, client certs and the service-account key pair."""
    pki = Pki(pki_dir)
    ca_key, ca_cert = make_ca()
    _write(pki.ca_key, _key_pem(ca_key), private=True)
    _write(pki.ca_crt, _cert_pem(ca_cert))
    key, cert = make_leaf(ca_key, ca_cert, "kube-apiserver", server=True)
    _write(pki.server_key, _key_pem(key), private=True)
    _write(pki.server_crt, _cert_pem(cert))
    for name, (cn, org) in CLIENTS.items():
        key, cert = make_leaf(ca_key, ca_cert, cn, org)
        _write(pki.client_key(name), _key_pem(key), private=True)
        _write(pki.client_crt(name), _cert_pem(cert))
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki.sa_key, _key_pem(sa), private=True)
    _write(
        pki.sa_pub,
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki


def kubeconfig(server: str, pki: Pki, client: str, context: str = "localcluster") -> str:
    """A self-contained kubeconfig (JSON is valid YAML) embedding the PEM data."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_crt)},
            }
        ],
        "users": [
            {
                "name": f"{context}-{client}",
                "user": {
                    "client-certificate-data": b64(pki.client_crt(client)),
                    "client-key-data": b64(pki.client_key(client)),
                },
            }
        ],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": f"{context}-{client}"},
            }
        ],
        "current-context": context,
    }
    return json.dumps(doc, indent=2) + "\n"


def write_kubeconfig(path: Path, server: str, pki: Pki, client: str) -> Path:
    _write(path, kubeconfig(server, pki, client).encode(), private=True)
    return path
