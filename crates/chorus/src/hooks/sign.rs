//! Signatures: every request to the backend carries `X-Chorus-Timestamp` (Unix seconds) and
//! `X-Chorus-Signature: v1=<hex>`, the HMAC-SHA256 under the hooks' secret of
//! `<timestamp>.<body>`. The backend recomputes it over the raw body and compares in
//! constant time; the timestamp inside the signed text lets it refuse a replayed request
//! (five minutes is a common window).

use ring::hmac;

/// The header with the signing time.
pub(crate) const TIMESTAMP_HEADER: &str = "x-chorus-timestamp";
/// The header with the signature.
pub(crate) const SIGNATURE_HEADER: &str = "x-chorus-signature";

/// The key requests are signed with.
pub(crate) struct Signer(hmac::Key);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    pub(crate) fn new(secret: &str) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// The `X-Chorus-Signature` value of `body` signed at `timestamp`.
    pub(crate) fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        let tag = ctx.sign();
        let mut out = String::with_capacity(3 + 64);
        out.push_str("v1=");
        for byte in tag.as_ref() {
            out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value any HMAC-SHA256 implementation gives (checked with
    /// `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef`).
    #[test]
    fn signs_timestamp_dot_body_with_hmac_sha256() {
        let signer = Signer::new("0123456789abcdef");
        let signature = signer.sign(1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            signature,
            "v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23"
        );
        assert_eq!(signature, signer.sign(1_700_000_000, br#"{"a":1}"#));
        assert_ne!(signature, signer.sign(1_700_000_001, br#"{"a":1}"#));
        assert_ne!(
            signature,
            Signer::new("another-secret-16").sign(1_700_000_000, br#"{"a":1}"#)
        );
    }
}
