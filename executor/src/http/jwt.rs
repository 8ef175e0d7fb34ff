//! JWT bearer tokens (`--jwks-url` / `--jwks-file`): the signature must verify with a
//! public key of the JWKS (RS*, PS*, ES256/384, EdDSA; `none` and HMAC are refused), `exp`
//! is required, `nbf` and `iat` are honoured with 60 s of leeway, `iss` and `aud` must
//! match. The principal is the `sub` claim (see [`principal_for_subject`]).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jwks::Jwks;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// Marks a principal derived from a hash of `sub` (see [`principal_for_subject`]).
pub const HASHED_SUBJECT: &str = "sub-sha256:";

/// Why a token was refused; the message is sent to the client, so it never includes
/// any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: not a signed JWT")]
    Malformed,
    #[error("token algorithm {0} is not accepted (RS256/384/512, PS256/384/512, ES256/384, EdDSA)")]
    Algorithm(String),
    #[error("token header has critical extensions (crit) this server does not implement")]
    Critical,
    #[error("token key id (kid) is not in the JWKS")]
    UnknownKid,
    #[error("no key in the JWKS fits the token's algorithm")]
    NoKey,
    #[error("bad token signature")]
    Signature,
    #[error("token expired (exp)")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("wrong token issuer (iss)")]
    Issuer,
    #[error("wrong token audience (aud)")]
    Audience,
    #[error("token has no {0} claim")]
    Missing(String),
    #[error("token claim {0} is malformed")]
    BadClaim(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    // Defaulted so a missing `sub` is reported by the required-claims check by name.
    #[serde(default)]
    sub: Value,
    iat: Option<Value>,
}

/// Reads the JOSE header of a compact JWS and the algorithm it claims, refusing
/// anything but the public-key algorithms before any key is looked at.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), JwtError> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| JwtError::Malformed)?;
    let h: Header = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if h.crit.is_some() {
        return Err(JwtError::Critical);
    }
    let alg = match h.alg.as_str() {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            let shown: String = other
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(16)
                .collect();
            return Err(JwtError::Algorithm(shown));
        }
    };
    Ok((alg, h.kid))
}

/// The principal a JWT subject maps to: `sub` itself when it is a valid principal name,
/// otherwise (too long, control characters, or already starting with
/// [`HASHED_SUBJECT`]) `sub-sha256:` + the hex SHA-256 of `sub`, so two subjects never
/// share a principal.
pub fn principal_for_subject(sub: &str) -> String {
    if !sub.starts_with(HASHED_SUBJECT)
        && mcp_v8_cluster::model::validate_name("principal", sub).is_ok()
    {
        return sub.to_owned();
    }
    format!(
        "{HASHED_SUBJECT}{}",
        hex::encode(Sha256::digest(sub.as_bytes()))
    )
}

fn map(e: &ErrorKind) -> JwtError {
    match e {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_) => JwtError::Signature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::Issuer,
        ErrorKind::InvalidAudience => JwtError::Audience,
        ErrorKind::MissingRequiredClaim(c) => JwtError::Missing(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => JwtError::BadClaim(c.clone()),
        ErrorKind::InvalidAlgorithm => JwtError::NoKey,
        _ => JwtError::Malformed,
    }
}

pub struct JwtAuth {
    jwks: Arc<Jwks>,
    validation_base: Validation,
}

impl JwtAuth {
    pub fn new(jwks: Arc<Jwks>, issuer: &str, audience: &[String]) -> Self {
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = LEEWAY_SECS;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.set_issuer(&[issuer]);
        v.set_audience(audience);
        Self {
            jwks,
            validation_base: v,
        }
    }

    /// The principal of a valid token, or which check it failed.
    pub async fn verify(&self, token: &str) -> Result<String, JwtError> {
        let (alg, kid) = header(token)?;
        let mut keys = self.jwks.keys();
        if let Some(kid) = &kid
            && !keys.iter().any(|k| k.kid.as_ref() == Some(kid))
        {
            // A key the IdP added since the last fetch (rotation).
            self.jwks.refresh_for_unknown_kid().await;
            keys = self.jwks.keys();
            if !keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(JwtError::UnknownKid);
            }
        }
        let candidates: Vec<_> = keys
            .iter()
            .filter(|k| kid.is_none() || k.kid == kid)
            .filter(|k| k.fits(alg))
            .collect();
        if candidates.is_empty() {
            return Err(JwtError::NoKey);
        }
        let mut validation = self.validation_base.clone();
        validation.algorithms = vec![alg];
        let mut failure = JwtError::Signature;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return check_claims(&data.claims),
                Err(e) => {
                    failure = map(e.kind());
                    if failure != JwtError::Signature {
                        break;
                    }
                }
            }
        }
        Err(failure)
    }
}

fn check_claims(c: &Claims) -> Result<String, JwtError> {
    let Value::String(sub) = &c.sub else {
        return Err(JwtError::BadClaim("sub".into()));
    };
    if sub.is_empty() {
        return Err(JwtError::BadClaim("sub".into()));
    }
    if let Some(iat) = &c.iat {
        let iat = iat.as_f64().ok_or(JwtError::BadClaim("iat".into()))?;
        let now = jsonwebtoken::get_current_timestamp() as f64;
        if iat > now + LEEWAY_SECS as f64 {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(principal_for_subject(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn headers_refuse_none_hmac_and_crit() {
        let t = |h: Value| format!("{}.e30.c2ln", segment(&h));
        assert_eq!(
            header(&t(serde_json::json!({"alg": "none"}))),
            Err(JwtError::Algorithm("none".into()))
        );
        assert_eq!(
            header(&t(serde_json::json!({"alg": "HS256", "kid": "k"}))),
            Err(JwtError::Algorithm("HS256".into()))
        );
        assert_eq!(
            header(&t(serde_json::json!({"alg": "ES256", "crit": ["b64"]}))),
            Err(JwtError::Critical)
        );
        assert_eq!(
            header(&t(serde_json::json!({"alg": "EdDSA", "kid": "k"}))),
            Ok((Algorithm::EdDSA, Some("k".into())))
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30.x"] {
            assert_eq!(header(bad), Err(JwtError::Malformed), "{bad}");
        }
    }

    #[test]
    fn subjects_map_to_distinct_valid_principals() {
        assert_eq!(
            principal_for_subject("alice@example.com"),
            "alice@example.com"
        );
        let long = "x".repeat(300);
        let hashed = principal_for_subject(&long);
        assert!(hashed.starts_with(HASHED_SUBJECT) && hashed.len() == HASHED_SUBJECT.len() + 64);
        assert_ne!(
            principal_for_subject(&hashed),
            hashed,
            "a subject cannot pose as a hash"
        );
        assert!(principal_for_subject("a\nb").starts_with(HASHED_SUBJECT));
        mcp_v8_cluster::model::validate_name("principal", &hashed).unwrap();
    }

    #[test]
    fn claims_are_type_checked() {
        let c = |v: Value| serde_json::from_value::<Claims>(v).unwrap();
        assert_eq!(
            check_claims(&c(serde_json::json!({"sub": 5}))),
            Err(JwtError::BadClaim("sub".into()))
        );
        assert_eq!(
            check_claims(&c(serde_json::json!({"sub": "a", "iat": "1"}))),
            Err(JwtError::BadClaim("iat".into()))
        );
        assert_eq!(
            check_claims(&c(serde_json::json!({"sub": "a", "iat": 4_000_000_000u64}))),
            Err(JwtError::IssuedInFuture)
        );
        assert_eq!(
            check_claims(&c(serde_json::json!({"sub": "a", "iat": 1}))),
            Ok("a".into())
        );
    }
}
