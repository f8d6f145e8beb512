"""Service accounts the FCM stand-in trusts, and the signed JWTs their clients present.

A :class:`ServiceAccount` has an RSA key of its own, generated with ``cryptography`` when
the test starts, and the JSON a project downloads from the Firebase console, with
``token_uri`` pointing at the stand-in. ``google-auth`` signs its token request with the
private key (a JWT bearer grant, RS256); the stand-in checks that signature with the
public key and the claims Google's token endpoint checks.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_PROJECT_ID = "chargesol-standin"
#: The audience google-auth signs into every assertion, whatever the JSON's token_uri
#: (Google's token endpoint's own URI): the stand-in accepts it, and its own URI.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Scopes that allow sending with FCM's v1 API (firebase-admin asks for both, and more).
MESSAGING_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
#: How far the client's clock may be off, as Google allows.
CLOCK_SKEW = 300
#: Google refuses assertions valid for longer than an hour.
MAX_LIFETIME = 3600


@dataclass(frozen=True)
class ServiceAccount:
    """A service account of ``project_id``, with its own RSA key."""

    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(
        cls, project_id: str = DEFAULT_PROJECT_ID, name: str = "notifications"
    ) -> ServiceAccount:
        return cls(
            project_id=project_id,
            client_email=f"{name}@{project_id}.iam.gserviceaccount.com",
            private_key_id=secrets.token_hex(20),
            private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def with_other_key(self) -> ServiceAccount:
        """The same account with a key Google never issued (a wrong or revoked key)."""
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return replace(self, private_key=other)

    def info(self, token_uri: str) -> dict[str, str]:
        """The service-account JSON, as the Firebase console would give it."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": str(int(self.private_key_id[:12], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + self.client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(
    assertion: str, accounts: dict[str, ServiceAccount], audience: str
) -> tuple[ServiceAccount, dict[str, Any]]:
    """The account that signed ``assertion`` and its claims.

    Raises ``ValueError`` with Google's ``error_description`` for an assertion Google's
    token endpoint would refuse (``invalid_grant``).

    What Google checks: RS256, a known account and key id, the signature, the audience
    (Google's token URI, or ``audience``), a scope, and a lifetime of at most an hour
    that covers now.
    """
    try:
        header_part, claims_part, signature_part = assertion.split(".")
        header = json.loads(b64decode(header_part))
        claims = json.loads(b64decode(claims_part))
        signature = b64decode(signature_part)
    except ValueError as exc:
        raise ValueError("Invalid JWT: the assertion is not a signed JWT.") from exc
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise ValueError("Invalid JWT Signature.")
    account = accounts.get(str(claims.get("iss")))
    if account is None:
        raise ValueError("Invalid grant: account not found")
    if header.get("kid") not in (None, account.private_key_id):
        raise ValueError("Invalid JWT Signature.")
    try:
        account.private_key.public_key().verify(
            signature,
            f"{header_part}.{claims_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise ValueError("Invalid JWT Signature.") from exc
    if claims.get("aud") not in (GOOGLE_TOKEN_URI, audience):
        raise ValueError(f"Invalid JWT: audience must be {GOOGLE_TOKEN_URI}.")
    if not MESSAGING_SCOPES & set(str(claims.get("scope") or "").split()):
        raise ValueError("Invalid OAuth scope or ID token audience provided.")
    now = time.time()
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise ValueError("Invalid JWT: iat and exp are required.")
    if expires - issued > MAX_LIFETIME or issued > now + CLOCK_SKEW or expires < now - CLOCK_SKEW:
        raise ValueError(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    return account, claims
