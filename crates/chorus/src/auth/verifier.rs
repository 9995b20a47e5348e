//! [`Verifier`]: checks a token's signature and claims and turns them into an [`Identity`].
//!
//! Keys come from the configuration: an HS256 secret (`jwt_secret`), and/or a PEM public
//! key (`jwt_public_key`) whose type picks the algorithm — an RSA key verifies RS256, a
//! P-256 EC key ES256. The algorithm a token names must be one a configured key verifies,
//! so a token cannot choose how it is checked (`none`, or HS256 "signed" with the public
//! key, is refused). Signatures are checked by `jsonwebtoken` (on `ring`); the time claims
//! and chorus's own claims are checked here, so the leeway and the errors are ours.

use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::error::AuthError;
use super::identity::{Identity, Patterns};
use crate::config::Config;

/// Longest token accepted, in bytes: a JWT with a few claims is well under 1 KiB, and a
/// bound keeps a hostile client from making the server decode megabytes.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Longest user id (`sub`), in bytes.
const MAX_USER_ID: usize = 256;

/// The DER encoding of the P-256 curve's OID (1.2.840.10045.3.1.7), as it appears in a
/// P-256 public key.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A key the server's configuration could not give the verifier.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The public key file could not be read.
    #[error("cannot read jwt_public_key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a public key chorus can use.
    #[error("jwt_public_key {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Verifies tokens against the configured keys and claims.
#[derive(Clone)]
pub struct Verifier {
    hmac: Option<DecodingKey>,
    public: Option<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.hmac.is_some())
            .field("public_key", &self.public.as_ref().map(|(alg, _)| alg))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl Verifier {
    /// The verifier the configuration asks for; `None` when it names no key (tokens are
    /// then not read at all, and every connection is anonymous).
    pub fn from_config(config: &Config) -> Result<Option<Self>, KeyError> {
        let hmac = config
            .jwt_secret
            .as_ref()
            .map(|secret| DecodingKey::from_secret(secret.expose().as_bytes()));
        let public = match &config.jwt_public_key {
            Some(path) => Some(load_public_key(path)?),
            None => None,
        };
        if hmac.is_none() && public.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            hmac,
            public,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            leeway: Duration::from_secs(config.jwt_leeway_secs),
        }))
    }

    /// How far past `exp` (and before `nbf`) a token is still accepted: clock skew between
    /// the issuer and this server.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Checks a token: its algorithm against the configured keys, its signature, `iss` and
    /// `aud` when configured, `exp` and `nbf` (with the leeway), and the claims chorus reads.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_at(token, SystemTime::now())
    }

    fn verify_at(&self, token: &str, now: SystemTime) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed(format!(
                "longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        let alg = header_alg(token)?;
        let key = match alg.as_str() {
            "HS256" => self.hmac.as_ref().map(|key| (Algorithm::HS256, key)),
            "RS256" | "ES256" => self
                .public
                .as_ref()
                .filter(|(ours, _)| format!("{ours:?}") == alg)
                .map(|(ours, key)| (*ours, key)),
            _ => None,
        };
        let Some((algorithm, key)) = key else {
            return Err(AuthError::WrongAlgorithm(alg.chars().take(32).collect()));
        };
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        // Time claims are checked below, with our leeway and fractional seconds allowed.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            // Without `jwt_audience` the audience is not checked (jsonwebtoken would refuse
            // every token that has one).
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(from_jwt)?;
        identity_from_claims(data.claims, self.leeway, now)
    }

    /// True if `identity`'s token has expired (beyond the leeway) by now: an identity
    /// proven at an Engine.IO handshake is checked again when a namespace is joined.
    pub(crate) fn expired(&self, identity: &Identity) -> bool {
        identity
            .expires_at
            .and_then(|exp| exp.checked_add(self.leeway))
            .is_some_and(|deadline| deadline < SystemTime::now())
    }
}

/// The `alg` of a token's header, read before any key is chosen, so a token naming an
/// algorithm we do not accept is told so (rather than "malformed").
fn header_alg(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("the header is not base64url".into()))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the header is not a JSON object".into()))?;
    match header.get("alg") {
        Some(Value::String(alg)) => Ok(alg.clone()),
        _ => Err(AuthError::Malformed("the header has no `alg`".into())),
    }
}

fn from_jwt(err: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => AuthError::WrongAlgorithm("?".into()),
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthError::WrongAudience,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed(err.to_string())
        }
        ErrorKind::Json(_) => AuthError::Malformed("the payload is not a JSON object".into()),
        // Key trouble (a signature that does not even parse as one, say): it does not
        // verify, whatever the reason.
        _ => AuthError::BadSignature,
    }
}

/// Reads the claims chorus gives meaning to; everything else is kept for the application.
fn identity_from_claims(
    claims: Map<String, Value>,
    leeway: Duration,
    now: SystemTime,
) -> Result<Identity, AuthError> {
    let bad = |why: &str| AuthError::BadClaims(why.to_owned());
    let user_id = match claims.get("sub") {
        Some(Value::String(sub))
            if !sub.trim().is_empty()
                && sub.len() <= MAX_USER_ID
                && !sub.chars().any(char::is_control) =>
        {
            sub.clone()
        }
        Some(_) => {
            return Err(bad(
                "`sub` (the user id) must be 1 to 256 bytes, not all spaces, without control characters",
            ))
        }
        None => return Err(bad("`sub` (the user id) is required")),
    };
    let name = match claims.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(
            chorus_proto::native::command::check_name(
                name,
                &chorus_proto::native::Limits::default(),
            )
            .map_err(|why| AuthError::BadClaims(format!("`name`: {why}")))?,
        ),
        Some(_) => return Err(bad("`name` must be a string")),
    };
    let time = |claim: &str| -> Result<Option<SystemTime>, AuthError> {
        match claims.get(claim) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .and_then(|since| SystemTime::UNIX_EPOCH.checked_add(since))
                .map(Some)
                .ok_or_else(|| {
                    AuthError::BadClaims(format!("`{claim}` must be a time in Unix seconds"))
                }),
        }
    };
    let expires_at = time("exp")?;
    // A time near the end of `SystemTime` plus the leeway overflows: such a token never
    // expires in practice.
    if expires_at.is_some_and(|exp| exp.checked_add(leeway).is_some_and(|t| t < now)) {
        return Err(AuthError::Expired);
    }
    if time("nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(AuthError::NotYetValid);
    }
    let join = patterns(&claims, "join")?;
    let publish = patterns(&claims, "publish")?;
    Ok(Identity {
        user_id,
        name,
        join,
        publish,
        expires_at,
        claims,
    })
}

/// A `join` or `publish` claim: absent means every room, an array lists patterns.
fn patterns(claims: &Map<String, Value>, claim: &str) -> Result<Patterns, AuthError> {
    let invalid = || {
        AuthError::BadClaims(format!(
            "`{claim}` must be an array of at most {} room patterns of 1 to {} bytes",
            Patterns::MAX_PATTERNS,
            Patterns::MAX_PATTERN_LEN
        ))
    };
    let Some(value) = claims.get(claim) else {
        return Ok(Patterns::every());
    };
    let Value::Array(items) = value else {
        return Err(invalid());
    };
    if items.len() > Patterns::MAX_PATTERNS {
        return Err(invalid());
    }
    let list = items
        .iter()
        .map(|item| match item {
            Value::String(p) if !p.is_empty() && p.len() <= Patterns::MAX_PATTERN_LEN => {
                Ok(p.clone())
            }
            _ => Err(invalid()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Patterns::new(list))
}

/// Loads a PEM public key: RSA verifies RS256, a P-256 EC key ES256.
fn load_public_key(path: &Path) -> Result<(Algorithm, DecodingKey), KeyError> {
    let invalid = |reason: &str| KeyError::Invalid {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let pem = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("PRIVATE KEY") {
        return Err(invalid(
            "this is a private key; give the server the public key \
             (`openssl pkey -in private.pem -pubout`)",
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        if !pem_der(&text).is_some_and(|der| der.windows(P256_OID.len()).any(|w| w == P256_OID)) {
            return Err(invalid(
                "an EC key on a curve other than P-256 (ES256 needs P-256)",
            ));
        }
        return Ok((Algorithm::ES256, key));
    }
    Err(invalid(
        "not a PEM public key chorus can use (RSA for RS256, or EC P-256 for ES256)",
    ))
}

/// The DER bytes of the first PEM block.
fn pem_der(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

    fn verifier() -> Verifier {
        let config = Config {
            jwt_secret: Some(SECRET.into()),
            ..Config::default()
        };
        Verifier::from_config(&config).unwrap().unwrap()
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn unix(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn claims_become_an_identity() {
        let t = token(serde_json::json!({
            "sub": "u1", "name": " Alice ", "exp": 2_000_000_000u64,
            "join": ["chat:*"], "publish": [], "role": "admin"
        }));
        let identity = verifier().verify_at(&t, unix(1_900_000_000)).unwrap();
        assert_eq!(identity.user_id, "u1");
        assert_eq!(identity.name.as_deref(), Some("Alice"));
        assert_eq!(identity.expires_at_unix(), Some(2_000_000_000));
        assert!(identity.join.allows("chat:x") && !identity.join.allows("lobby"));
        assert!(!identity.publish.allows("chat:x"));
        assert_eq!(identity.claims["role"], "admin");
        let bare = verifier()
            .verify(&token(serde_json::json!({ "sub": "u2" })))
            .unwrap();
        assert!(bare.expires_at.is_none() && bare.join.allows_every_room());
    }

    #[test]
    fn time_claims_with_leeway() {
        let v = verifier();
        let t = token(serde_json::json!({ "sub": "u", "exp": 1000, "nbf": 900 }));
        assert!(v.verify_at(&t, unix(1000)).is_ok());
        assert!(
            v.verify_at(&t, unix(1030)).is_ok(),
            "within the 30 s leeway"
        );
        assert_eq!(v.verify_at(&t, unix(1031)), Err(AuthError::Expired));
        assert!(v.verify_at(&t, unix(870)).is_ok());
        assert_eq!(v.verify_at(&t, unix(869)), Err(AuthError::NotYetValid));
        let fractional = token(serde_json::json!({ "sub": "u", "exp": 1000.5 }));
        assert!(v.verify_at(&fractional, unix(1000)).is_ok());
        let bad = token(serde_json::json!({ "sub": "u", "exp": "soon" }));
        assert!(matches!(v.verify(&bad), Err(AuthError::BadClaims(_))));
    }

    #[test]
    fn refusals() {
        let v = verifier();
        let bad_claims = |claims: Value| {
            assert!(
                matches!(
                    v.verify(&token(claims.clone())),
                    Err(AuthError::BadClaims(_))
                ),
                "{claims}"
            );
        };
        bad_claims(serde_json::json!({ "name": "no sub" }));
        bad_claims(serde_json::json!({ "sub": 42 }));
        bad_claims(serde_json::json!({ "sub": "" }));
        bad_claims(serde_json::json!({ "sub": "  " }));
        bad_claims(serde_json::json!({ "sub": "a\u{7}b" }));
        bad_claims(serde_json::json!({ "sub": "u", "join": "lobby" }));
        bad_claims(serde_json::json!({ "sub": "u", "join": null }));
        bad_claims(serde_json::json!({ "sub": "u", "publish": [1] }));
        bad_claims(serde_json::json!({ "sub": "u", "name": "x".repeat(65) }));

        for garbage in ["", "nope", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30.sig"] {
            assert!(
                matches!(v.verify(garbage), Err(AuthError::Malformed(_))),
                "{garbage}"
            );
        }
        assert!(matches!(
            v.verify(&"x".repeat(MAX_TOKEN_LEN + 1)),
            Err(AuthError::Malformed(_))
        ));

        let good = token(serde_json::json!({ "sub": "u" }));
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        let forged = format!("{head}.{payload}.AAAA");
        assert_eq!(v.verify(&forged), Err(AuthError::BadSignature));

        let other = encode(
            &Header::default(),
            &serde_json::json!({ "sub": "u" }),
            &EncodingKey::from_secret(b"another secret"),
        )
        .unwrap();
        assert_eq!(v.verify(&other), Err(AuthError::BadSignature));

        // alg none, and algorithms without a configured key.
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(serde_json::json!({ "alg": "none" })),
            b64(serde_json::json!({ "sub": "u" }))
        );
        assert_eq!(
            v.verify(&none),
            Err(AuthError::WrongAlgorithm("none".into()))
        );
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({ "sub": "u" }),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&hs512),
            Err(AuthError::WrongAlgorithm("HS512".into()))
        );
    }

    #[test]
    fn issuer_and_audience_when_configured() {
        let config = Config {
            jwt_secret: Some(SECRET.into()),
            jwt_issuer: Some("https://id.example".into()),
            jwt_audience: Some("chorus".into()),
            ..Config::default()
        };
        let v = Verifier::from_config(&config).unwrap().unwrap();
        let ok = token(serde_json::json!({
            "sub": "u", "iss": "https://id.example", "aud": ["other", "chorus"]
        }));
        assert!(v.verify(&ok).is_ok());
        let cases = [
            (
                serde_json::json!({ "sub": "u", "aud": "chorus" }),
                AuthError::WrongIssuer,
            ),
            (
                serde_json::json!({ "sub": "u", "iss": "https://evil", "aud": "chorus" }),
                AuthError::WrongIssuer,
            ),
            (
                serde_json::json!({ "sub": "u", "iss": "https://id.example" }),
                AuthError::WrongAudience,
            ),
            (
                serde_json::json!({ "sub": "u", "iss": "https://id.example", "aud": "x" }),
                AuthError::WrongAudience,
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(v.verify(&token(claims.clone())), Err(expected), "{claims}");
        }
        // Without `jwt_audience`, `aud` is not checked.
        assert!(verifier()
            .verify(&token(serde_json::json!({ "sub": "u", "aud": "x" })))
            .is_ok());
    }

    #[test]
    fn no_key_means_no_verifier() {
        assert!(Verifier::from_config(&Config::default()).unwrap().is_none());
    }
}
