//! [`Idempotency`]: a publish retried with the same `idempotency_key` is answered with the
//! first request's result and not sent again.
//!
//! A backend that timed out waiting for an answer cannot tell whether its message went out;
//! retrying with the same key makes the retry safe. The first request with a key runs; any
//! other with that key — at the same time or later, within the window — waits for it and
//! gets its answer. An answer that says the server failed (a 5xx) is forgotten, so a retry
//! runs the call again. The key stands for one request: the same key with another body is
//! refused (409 `idempotency_conflict`), rather than answered for a message never sent. Keys are kept per node, for `api_idempotency_secs`, at most
//! [`MAX_KEYS`] of them (the oldest go first).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use parking_lot::Mutex;
use serde_json::Value;

use super::error::ApiError;

/// Most keys remembered at once.
pub(crate) const MAX_KEYS: usize = 100_000;

/// Longest key, in characters.
pub(crate) const MAX_KEY_LEN: usize = 256;

type Answer = Result<Value, ApiError>;

/// A first call's answer, on its way or given: shared by every request with its key.
type Running = Shared<BoxFuture<'static, Answer>>;

/// The keys seen within the window, and their answers.
#[derive(Debug)]
pub(crate) struct Idempotency {
    window: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each key's answer (being worked out, or given), with when the key came and a
    /// fingerprint of its request.
    answers: HashMap<String, (Instant, u64, Running)>,
    /// The keys in the order they came, with when: the oldest are forgotten first.
    order: VecDeque<(Instant, String)>,
}

impl Idempotency {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Runs `call` for a key not seen within the window; otherwise waits for, and gives,
    /// the answer the first call with the key gave. `scope` separates the calls (a key of
    /// `publish` is not one of `broadcast`); `request` is the request's body, which a
    /// repeat must match.
    ///
    /// The first call runs in a task of its own: a client that gives up waiting (and
    /// closes) does not cancel it, and its retry gets its answer rather than running it
    /// again.
    pub(crate) async fn once<F>(&self, scope: &str, key: &str, request: &str, call: F) -> Answer
    where
        F: Future<Output = Answer> + Send + 'static,
    {
        self.once_unless(scope, key, request, call, |_| false).await
    }

    /// [`Idempotency::once`], also forgetting an answer that `failed` says the server
    /// partly failed (a broadcast whose answer holds a room the store could not take): a
    /// retry then runs again.
    pub(crate) async fn once_unless<F>(
        &self,
        scope: &str,
        key: &str,
        request: &str,
        call: F,
        failed: impl Fn(&Value) -> bool,
    ) -> Answer
    where
        F: Future<Output = Answer> + Send + 'static,
    {
        if !(1..=MAX_KEY_LEN).contains(&key.chars().count()) {
            return Err(ApiError::bad_request(format!(
                "`idempotency_key` must be 1 to {MAX_KEY_LEN} characters"
            )));
        }
        let id = format!("{scope}\u{0}{key}");
        let fingerprint = fingerprint(request);
        let cell = {
            let mut seen = self.seen.lock();
            seen.forget_before(Instant::now().checked_sub(self.window));
            match seen.answers.get(&id) {
                Some((_, first, _)) if *first != fingerprint => {
                    return Err(ApiError::new(
                        http::StatusCode::CONFLICT,
                        "idempotency_conflict",
                        "this idempotency_key was used for another request: a key stands for one request",
                    ))
                }
                Some((_, _, cell)) => cell.clone(),
                None => {
                    let task = tokio::spawn(call);
                    let cell: Running = async move {
                        task.await.unwrap_or_else(|_| {
                            Err(ApiError::new(
                                http::StatusCode::INTERNAL_SERVER_ERROR,
                                "internal",
                                "the call's task failed",
                            ))
                        })
                    }
                    .boxed()
                    .shared();
                    let now = Instant::now();
                    seen.answers.insert(id.clone(), (now, fingerprint, cell.clone()));
                    seen.order.push_back((now, id.clone()));
                    while seen.answers.len() > MAX_KEYS {
                        seen.forget_oldest();
                    }
                    cell
                }
            }
        };
        let answer = cell.clone().await;
        let forget = match &answer {
            Ok(value) => failed(value),
            Err(err) => err.is_server_side(),
        };
        if forget {
            let mut seen = self.seen.lock();
            if seen
                .answers
                .get(&id)
                .is_some_and(|(_, _, c)| c.ptr_eq(&cell))
            {
                seen.answers.remove(&id);
            }
        }
        answer
    }
}

/// A request's body, hashed: what a repeat with the same key must match.
fn fingerprint(request: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.hash(&mut hasher);
    hasher.finish()
}

impl Seen {
    fn forget_before(&mut self, cutoff: Option<Instant>) {
        let Some(cutoff) = cutoff else { return };
        while self.order.front().is_some_and(|(at, _)| *at < cutoff) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((at, id)) = self.order.pop_front() {
            // Only if it is still the entry recorded then (a 5xx removes one, and a later
            // request may have put the key back).
            if self
                .answers
                .get(&id)
                .is_some_and(|(when, _, _)| *when == at)
            {
                self.answers.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http::StatusCode;

    use super::*;

    #[tokio::test]
    async fn a_key_runs_once_within_the_window_and_again_after_a_server_failure() {
        let keys = Idempotency::new(Duration::from_secs(60));
        let runs = Arc::new(AtomicUsize::new(0));
        // Counts the calls that run, not the ones made and never run.
        let call = |answer: Answer| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                answer
            }
        };
        let first = keys
            .once("publish", "k1", "{}", call(Ok(Value::from(1))))
            .await;
        let again = keys
            .once("publish", "k1", "{}", async { Ok(Value::from(2)) })
            .await;
        assert_eq!(
            (first.unwrap(), again.unwrap()),
            (Value::from(1), Value::from(1))
        );
        // Another scope, another key: runs.
        let other = keys
            .once("broadcast", "k1", "{}", call(Ok(Value::from(3))))
            .await;
        assert_eq!(other.unwrap(), Value::from(3));
        // A 5xx is not remembered; a 4xx is.
        let failed = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "down");
        assert!(keys
            .once("publish", "k2", "{}", call(Err(failed)))
            .await
            .is_err());
        let retried = keys
            .once("publish", "k2", "{}", call(Ok(Value::from(4))))
            .await;
        assert_eq!(retried.unwrap(), Value::from(4));
        let refused = keys
            .once(
                "publish",
                "k3",
                "{}",
                call(Err(ApiError::bad_request("no"))),
            )
            .await;
        let same = keys
            .once("publish", "k3", "{}", call(Ok(Value::from(5))))
            .await;
        assert_eq!(refused.unwrap_err().code, same.unwrap_err().code);
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        // The same key for another request: refused, and nothing runs.
        let other = keys
            .once("publish", "k1", "{\"x\":1}", call(Ok(Value::Null)))
            .await;
        assert_eq!(other.unwrap_err().code, "idempotency_conflict");
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert!(keys
            .once("publish", "", "{}", call(Ok(Value::Null)))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn two_requests_with_one_key_at_once_run_it_once() {
        let keys = Idempotency::new(Duration::from_secs(60));
        let runs = Arc::new(AtomicUsize::new(0));
        let slow = || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(Value::from("sent"))
            }
        };
        let (a, b) = tokio::join!(
            keys.once("publish", "k", "{}", slow()),
            keys.once("publish", "k", "{}", slow())
        );
        assert_eq!(
            (a.unwrap(), b.unwrap()),
            (Value::from("sent"), Value::from("sent"))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_first_caller_that_gives_up_does_not_make_the_retry_run_again() {
        let keys = Idempotency::new(Duration::from_secs(60));
        let runs = Arc::new(AtomicUsize::new(0));
        let slow = || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(Value::from("sent"))
            }
        };
        // The first request is dropped (its client closed) before the call finished.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(5),
            keys.once("publish", "k", "{}", slow()),
        )
        .await;
        assert!(gave_up.is_err());
        let retried = keys.once("publish", "k", "{}", slow()).await;
        assert_eq!(retried.unwrap(), Value::from("sent"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_that_says_part_failed_is_forgotten_too() {
        let keys = Idempotency::new(Duration::from_secs(60));
        let partial =
            serde_json::json!({"results": [{"room": "a", "error": {"code": "unavailable"}}]});
        let failed = |v: &Value| v["results"][0]["error"].is_object();
        let first = keys
            .once_unless("broadcast", "k", "{}", async move { Ok(partial) }, failed)
            .await;
        assert!(first.is_ok());
        let whole = serde_json::json!({"results": [{"room": "a", "offset": 1}]});
        let retried = keys
            .once_unless("broadcast", "k", "{}", async move { Ok(whole) }, failed)
            .await;
        assert_eq!(retried.unwrap()["results"][0]["offset"], 1, "ran again");
        let again = keys
            .once_unless("broadcast", "k", "{}", async { Ok(Value::Null) }, failed)
            .await;
        assert_eq!(again.unwrap()["results"][0]["offset"], 1, "remembered now");
    }

    #[tokio::test]
    async fn keys_are_forgotten_after_the_window() {
        let keys = Idempotency::new(Duration::from_millis(20));
        let first = keys
            .once("publish", "k", "{}", async { Ok(Value::from(1)) })
            .await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let later = keys
            .once("publish", "k", "{}", async { Ok(Value::from(2)) })
            .await;
        assert_eq!(
            (first.unwrap(), later.unwrap()),
            (Value::from(1), Value::from(2))
        );
        assert_eq!(keys.seen.lock().answers.len(), 1);
    }
}
