//! [`Verdict`]: what the backend decided, read from its answer.
//!
//! A decision is a JSON object: `{"allow": true}`, optionally with who the client is for
//! the connect hook (`user`, `name`, `data`), or `{"allow": false, "reason": "…"}`. A 403
//! is a refusal too (its body may be such an object, or anything). An answer that is not
//! a decision — not JSON, no `allow`, a `user` or `name` out of bounds — is the backend's
//! mistake and counts as no answer, so `on_failure` decides rather than a guess.

use std::sync::Arc;

use chorus_proto::native::command::check_name;
use chorus_proto::native::Limits;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest `user` the backend may give (bytes), and longest refusal reason passed on.
const MAX_USER: usize = 256;
const MAX_REASON: usize = 256;

/// The backend's decision.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Go ahead; for a connect, maybe with who the client is.
    Allow(Allowed),
    /// Refused, with the reason the client is given.
    Deny(String),
    /// The backend did not decide and `on_failure` is `deny`.
    Unavailable,
}

/// What an allowing connect decision may say about the client.
#[derive(Debug, Default)]
pub(crate) struct Allowed {
    /// The user (as a token's `sub`: the server API's calls for a user reach it).
    pub(crate) user: Option<Arc<str>>,
    /// Its nickname, shown in presence.
    pub(crate) name: Option<Arc<str>>,
    /// Its public data, shown in presence.
    pub(crate) data: Option<Arc<RawValue>>,
}

#[derive(Deserialize)]
struct Decision {
    allow: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

impl Verdict {
    /// Whether it lets the client through.
    pub(crate) fn allows(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }

    /// The decision in a 2xx answer's body; `Err` with why it is not one.
    pub(crate) fn read(body: &[u8]) -> Result<Self, String> {
        let decision: Decision = serde_json::from_slice(body).map_err(|err| {
            format!("the answer is not a decision ({err}): want {{\"allow\": true|false}}")
        })?;
        if !decision.allow {
            return Ok(Verdict::Deny(reason(decision.reason)));
        }
        let limits = Limits::default();
        let user = match decision.user {
            Some(user)
                if user.is_empty()
                    || user.len() > MAX_USER
                    || user.chars().any(char::is_control) =>
            {
                return Err(format!(
                    "`user` must be 1 to {MAX_USER} bytes without control characters"
                ));
            }
            user => user.map(Arc::from),
        };
        let name = match decision.name {
            Some(name) => Some(Arc::from(
                check_name(&name, &limits).map_err(|err| format!("`name`: {err}"))?,
            )),
            None => None,
        };
        let data = match decision.data {
            Some(data) if data.get().len() > limits.max_user_data => {
                return Err(format!("`data` is over {} bytes", limits.max_user_data));
            }
            data => data.map(Arc::from),
        };
        Ok(Verdict::Allow(Allowed { user, name, data }))
    }

    /// A 403's refusal: its body's `reason` if it has one.
    pub(crate) fn refused(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Refusal {
            reason: Option<String>,
        }
        let reason = serde_json::from_slice::<Refusal>(body)
            .ok()
            .and_then(|r| r.reason);
        Ok(Verdict::Deny(self::reason(reason)))
    }
}

/// The reason given to the client: the backend's, cut to [`MAX_REASON`] bytes, or a
/// general one.
fn reason(reason: Option<String>) -> String {
    match reason.filter(|r| !r.trim().is_empty()) {
        Some(mut reason) => {
            if reason.len() > MAX_REASON {
                let mut at = MAX_REASON;
                while !reason.is_char_boundary(at) {
                    at -= 1;
                }
                reason.truncate(at);
            }
            reason
        }
        None => "refused by the application".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_allow_deny_and_who_the_client_is() {
        let allowed =
            Verdict::read(br#"{"allow":true,"user":"ada","name":" Ada ","data":{"role":"admin"}}"#)
                .unwrap();
        let Verdict::Allow(who) = allowed else {
            panic!("{allowed:?}")
        };
        assert_eq!(who.user.as_deref(), Some("ada"));
        assert_eq!(who.name.as_deref(), Some("Ada"));
        assert_eq!(
            who.data.as_deref().map(RawValue::get),
            Some(r#"{"role":"admin"}"#)
        );
        assert!(matches!(
            Verdict::read(br#"{"allow":true}"#),
            Ok(Verdict::Allow(Allowed { user: None, .. }))
        ));
        match Verdict::read(br#"{"allow":false,"reason":"banned"}"#).unwrap() {
            Verdict::Deny(reason) => assert_eq!(reason, "banned"),
            other => panic!("{other:?}"),
        }
        match Verdict::read(br#"{"allow":false}"#).unwrap() {
            Verdict::Deny(reason) => assert_eq!(reason, "refused by the application"),
            other => panic!("{other:?}"),
        }
        match Verdict::refused(b"<html>no</html>").unwrap() {
            Verdict::Deny(reason) => assert_eq!(reason, "refused by the application"),
            other => panic!("{other:?}"),
        }
        match Verdict::read(
            format!(r#"{{"allow":false,"reason":"{}"}}"#, "é".repeat(200)).as_bytes(),
        )
        .unwrap()
        {
            Verdict::Deny(reason) => assert!(reason.len() <= MAX_REASON && reason.starts_with('é')),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_that_is_no_decision_is_a_failure() {
        for body in [
            &b""[..],
            b"ok",
            b"{}",
            br#"{"allow":"yes"}"#,
            br#"{"allow":true,"user":""}"#,
            br#"{"allow":true,"name":"\u0007"}"#,
        ] {
            assert!(
                Verdict::read(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let big = format!(r#"{{"allow":true,"data":"{}"}}"#, "x".repeat(5000));
        assert!(Verdict::read(big.as_bytes()).is_err());
    }
}
