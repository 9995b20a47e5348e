//! [`Keys`]: the API keys a request must carry one of.
//!
//! A key comes as `Authorization: apikey <key>` (Centrifugo's form), `Authorization:
//! Bearer <key>`, or `X-API-Key: <key>`. It is compared with each configured key in time
//! that does not depend on where they differ, and never logged.

use http::HeaderMap;

use crate::config::Secret;

/// The configured keys.
#[derive(Debug)]
pub(crate) struct Keys(Vec<Secret>);

impl Keys {
    pub(crate) fn new(keys: Vec<Secret>) -> Self {
        Self(keys)
    }

    /// Whether the request's headers carry one of the keys (in any of the places a key
    /// may come).
    pub(crate) fn allow(&self, headers: &HeaderMap) -> bool {
        presented(headers).any(|given| {
            // Every key is compared, so the time taken does not tell which came closest.
            self.0.iter().fold(false, |found, key| {
                found | same(key.expose().as_bytes(), given)
            })
        })
    }
}

/// The keys a request presents.
fn presented(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    let authorization = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .filter_map(|value| {
            let value = value.as_bytes();
            let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
            (scheme.eq_ignore_ascii_case(b"apikey") || scheme.eq_ignore_ascii_case(b"bearer"))
                .then(|| rest.trim_ascii())
        });
    let header = headers
        .get_all("x-api-key")
        .iter()
        .map(|value| value.as_bytes().trim_ascii());
    authorization.chain(header)
}

/// Equal bytes, compared in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_key_is_taken_in_each_form_and_nothing_else_passes() {
        let keys = Keys::new(vec![
            Secret::from("old-key-0123456789"),
            Secret::from("new-key-0123456789"),
        ]);
        for (name, value) in [
            ("authorization", "apikey new-key-0123456789"),
            ("authorization", "Bearer old-key-0123456789"),
            ("authorization", "APIKEY  new-key-0123456789 "),
            ("x-api-key", "old-key-0123456789"),
        ] {
            assert!(keys.allow(&headers(name, value)), "{name}: {value}");
        }
        for (name, value) in [
            ("authorization", "apikey new-key-012345678"),
            ("authorization", "Basic new-key-0123456789"),
            ("authorization", "new-key-0123456789"),
            ("x-api-key", ""),
            ("x-other", "new-key-0123456789"),
        ] {
            assert!(!keys.allow(&headers(name, value)), "{name}: {value}");
        }
        assert!(!Keys::new(Vec::new()).allow(&headers("x-api-key", "anything-at-all")));
    }
}
