"""ID token validation: every claim, every time (OpenID Connect Core §3.1.3.7).

mozilla-django-oidc checks the signature and nonce but not ``aud`` (#340) or ``iss``, and picks
keys by ``kid`` only. Here the token must be signed with an algorithm the provider advertises
(never ``none``; never HMAC when the provider publishes asymmetric keys, which would let anyone
who knows the public key forge tokens), by a key chosen by ``kid`` or else by ``kty``/``use``/
``alg``; and ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce`` and ``sub`` must all hold.
"""

import hashlib
import hmac
import json
import time

import jwt
from django.conf import settings

from .discovery import ProviderMetadata, provider_jwks
from .errors import SSOFlowError

_KTY_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
ASYMMETRIC_KTYS = {"RSA", "EC", "OKP"}


def _refuse(reason: str, message: str) -> SSOFlowError:
    return SSOFlowError(reason, message, status=400)


def _kty_for(alg: str) -> str | None:
    if alg.startswith("HS"):
        return "oct"
    return _KTY_FOR_ALG.get(alg[:2])


def _usable(jwk: dict, *, alg: str) -> bool:
    return (
        isinstance(jwk, dict)
        and jwk.get("kty") == _kty_for(alg)
        and jwk.get("use", "sig") == "sig"
        and jwk.get("alg", alg) == alg
    )


def _parse(jwk: dict, *, alg: str) -> jwt.PyJWK | None:
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return None  # a key type or curve we cannot use: ignore it


#: Parsed keys per process, by (fingerprint of the JWKS document, alg, kid). Parsing a JWK (an RSA
#: or EC public key) on every login is wasted work: the document changes only when the provider
#: rotates its keys, and then its fingerprint changes too, so an entry can never outlive its keys.
_parsed_keys: dict[tuple[str, str, str | None], tuple[jwt.PyJWK, ...]] = {}
PARSED_KEYS_MAX = 256


def jwks_fingerprint(jwks: dict) -> str:
    """sha256 of the JWKS document's bytes (as JSON, keys sorted): equal documents, equal prints."""
    return hashlib.sha256(json.dumps(jwks, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def candidate_keys(jwks: dict, *, alg: str, kid: str | None) -> list[jwt.PyJWK]:
    """Keys that may have signed a token: by kid when the token names one, else by kty/use/alg.

    Only found keys are remembered: a forged token's random kid finds none and leaves no entry, so
    it cannot push the real keys out (the table is also bounded, emptied when full)."""
    memo_key = (jwks_fingerprint(jwks), alg, kid)
    found = _parsed_keys.get(memo_key)
    if found is None:
        keys = [k for k in jwks.get("keys", []) if _usable(k, alg=alg)]
        if kid is not None:
            keys = [k for k in keys if k.get("kid") == kid]
        found = tuple(parsed for k in keys if (parsed := _parse(k, alg=alg)) is not None)
        if found:
            if len(_parsed_keys) >= PARSED_KEYS_MAX:
                _parsed_keys.clear()
            _parsed_keys[memo_key] = found
    return list(found)


def _has_asymmetric_keys(jwks: dict) -> bool:
    return any(isinstance(k, dict) and k.get("kty") in ASYMMETRIC_KTYS for k in jwks.get("keys", []))


def _header(id_token: str) -> dict:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError as exc:
        raise _refuse("malformed_id_token", "The ID token is not a well-formed JWT.") from exc
    if not isinstance(header.get("alg"), str):
        raise _refuse("malformed_id_token", "The ID token header has no algorithm.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _refuse("malformed_id_token", "The ID token header's kid is not a string.")
    return header


def signing_keys(*, id_token: str, config, metadata: ProviderMetadata) -> tuple[str, list]:
    """The algorithm and the keys to try, after refusing algorithms we must never accept."""
    header = _header(id_token)
    alg, kid = header["alg"], header.get("kid")
    if alg.lower() == "none":
        raise _refuse("alg_none", "The ID token is unsigned (alg none); refused.")
    if alg not in metadata.id_token_signing_alg_values_supported:
        raise _refuse(
            "alg_not_advertised",
            f"The ID token is signed with {alg}, which the provider does not advertise "
            f"({', '.join(metadata.id_token_signing_alg_values_supported)}).",
        )
    if _kty_for(alg) is None:
        raise _refuse("alg_unsupported", f"The ID token's algorithm {alg} is not supported.")
    jwks = provider_jwks(metadata)
    if alg.startswith("HS"):
        if _has_asymmetric_keys(jwks) or not config.client_secret:
            raise _refuse(
                "alg_hmac_refused", f"The ID token is signed with {alg}, which is refused for this provider."
            )
        return alg, [config.client_secret.encode()]
    keys = candidate_keys(jwks, alg=alg, kid=kid)
    if not keys and kid is not None:
        jwks = provider_jwks(metadata, refresh_for_kid=kid)  # key rotation: look once more, rate-limited
        keys = candidate_keys(jwks, alg=alg, kid=kid)
    if not keys:
        raise _refuse(
            "unknown_signing_key",
            f"No key in the provider's JWKS matches the ID token (alg {alg}, kid {kid!r}).",
        )
    return alg, keys


def validate_id_token(*, id_token: str, config, metadata: ProviderMetadata, nonce: str | None) -> dict:
    """The verified claims of an ID token, or SSOFlowError naming the check that failed."""
    if not isinstance(id_token, str) or not id_token:
        raise _refuse("no_id_token", "The token endpoint returned no ID token (is 'openid' in the scope?).")
    alg, keys = signing_keys(id_token=id_token, config=config, metadata=metadata)
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                audience=config.client_id,
                issuer=config.issuer,
                leeway=settings.SSO_CLOCK_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"], "strict_aud": False},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise _refuse("token_expired", "The ID token has expired (check the server clocks).") from exc
        except jwt.InvalidAudienceError as exc:
            raise _refuse(
                "audience_mismatch", f"The ID token is not meant for client ID {config.client_id!r}."
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise _refuse(
                "token_issuer_mismatch", f"The ID token's issuer is not {config.issuer!r}."
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _refuse("missing_claim", f"The ID token lacks the {exc.claim!r} claim.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _refuse(
                "token_not_yet_valid", "The ID token is not valid yet (check the server clocks)."
            ) from exc
        except (jwt.DecodeError, jwt.InvalidTokenError, json.JSONDecodeError) as exc:
            raise _refuse("malformed_id_token", f"The ID token could not be decoded: {exc}.") from exc
    if claims is None:
        raise _refuse("bad_signature", "The ID token's signature does not verify with the provider's keys.")
    _check_azp(claims, client_id=config.client_id)
    _check_age(claims)
    token_nonce = claims.get("nonce")
    if not nonce or not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce, nonce):
        raise _refuse("nonce_mismatch", "The ID token's nonce does not match the one this sign-in sent.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _refuse("missing_claim", "The ID token has an empty 'sub' claim.")
    return claims


def _check_age(claims: dict) -> None:
    """Refuse an ID token issued too long ago, whatever its ``exp`` says.

    A provider may hand out tokens valid for a week; one captured (a log, a proxy, a browser
    history) could otherwise be replayed for that long wherever a nonce is known. A sign-in answer
    is minutes old at most, so ``iat`` older than ``SSO_MAX_TOKEN_AGE`` (plus the clock leeway) is refused.
    """
    age = time.time() - float(claims["iat"])
    if age > settings.SSO_MAX_TOKEN_AGE + settings.SSO_CLOCK_LEEWAY:
        raise _refuse(
            "token_too_old",
            f"The ID token was issued {int(age)} s ago, more than the {settings.SSO_MAX_TOKEN_AGE} s "
            "allowed (SSO_MAX_TOKEN_AGE); check the server clocks.",
        )


def _check_azp(claims: dict, *, client_id: str) -> None:
    aud = claims.get("aud")
    several = isinstance(aud, list) and len(aud) > 1
    azp = claims.get("azp")
    if several and azp is None:
        raise _refuse("azp_missing", "The ID token has several audiences but no 'azp' claim.")
    if azp is not None and azp != client_id:
        raise _refuse("azp_mismatch", f"The ID token's authorized party is not {client_id!r}.")
