"""Unit tests of the generated certificates, keys and kubeconfig."""

from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localcluster import pki


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.generate(tmp_path_factory.mktemp("pki"))


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_cert_sans(generated: pki.Pki) -> None:
    cert = load(generated.server_crt)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.1"),
    }
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_certs_are_signed_by_the_ca(generated: pki.Pki) -> None:
    ca = load(generated.ca_crt)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for path in (generated.server_crt, generated.client_crt("admin")):
        cert = load(path)
        cert.verify_directly_issued_by(ca)  # raises if not signed by the CA


def test_admin_is_system_masters(generated: pki.Pki) -> None:
    cert = load(generated.client_crt("admin"))
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    kcm = load(generated.client_crt("controller-manager"))
    cn = kcm.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "system:kube-controller-manager"


def test_service_account_key_is_rsa_and_matches_public_key(generated: pki.Pki) -> None:
    key = serialization.load_pem_private_key(generated.sa_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size >= 2048
    pub = serialization.load_pem_public_key(generated.sa_pub.read_bytes())
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.public_numbers() == key.public_key().public_numbers()
    assert generated.sa_key.stat().st_mode & 0o077 == 0


def test_client_key_matches_cert(generated: pki.Pki) -> None:
    key = serialization.load_pem_private_key(
        generated.client_key("admin").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_pub = load(generated.client_crt("admin")).public_key()
    assert isinstance(cert_pub, ec.EllipticCurvePublicKey)
    assert cert_pub.public_numbers() == key.public_key().public_numbers()


def test_kubeconfig_embeds_credentials(generated: pki.Pki) -> None:
    doc = json.loads(pki.kubeconfig("https://127.0.0.1:6443", generated, "admin"))
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == generated.ca_crt.read_bytes()
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == (
        generated.client_crt("admin").read_bytes()
    )
    assert doc["current-context"] == doc["contexts"][0]["name"]
