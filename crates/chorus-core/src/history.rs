//! Which rooms keep history, and for how long.
//!
//! Rules are room-name patterns (`*` matches any run of characters, so `chat:*` or `*`)
//! with a [`Retention`] each; the first matching rule wins, and a room no rule matches
//! keeps no history. Checked on every publish, so matching is a plain scan with no
//! allocation.

use std::time::Duration;

use crate::Retention;

/// One rule: rooms matching `pattern` keep messages as `retention` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRule {
    /// A room-name pattern; `*` matches any run of characters.
    pub pattern: String,
    /// How long matching rooms keep their messages.
    pub retention: Retention,
}

/// The history rules of a hub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryRules {
    rules: Vec<HistoryRule>,
}

impl HistoryRules {
    /// Rules checked in order.
    pub fn new(rules: Vec<HistoryRule>) -> Self {
        Self { rules }
    }

    /// Every room keeps `retention`.
    pub fn all(retention: Retention) -> Self {
        Self::new(vec![HistoryRule {
            pattern: "*".into(),
            retention,
        }])
    }

    /// How long `room` keeps messages; `None` if it keeps none (no rule matches, or the
    /// first that does keeps no message).
    pub fn retention(&self, room: &str) -> Option<Retention> {
        self.rules
            .iter()
            .find(|rule| glob(&rule.pattern, room))
            .map(|rule| rule.retention)
            .filter(|retention| retention.max_messages > 0)
    }

    /// True if no room keeps history.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl Default for Retention {
    /// 1000 messages, one day.
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// `*`-glob matching, iterative with one backtrack point (linear in practice).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*", "lobby"));
        assert!(glob("chat:*", "chat:general"));
        assert!(!glob("chat:*", "chatx"));
        assert!(glob("*:log", "a:b:log"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("lobby", "lobby"));
        assert!(!glob("lobby", "lobby2"));
    }

    #[test]
    fn first_rule_wins() {
        let short = Retention {
            max_messages: 10,
            max_age: Duration::from_secs(60),
        };
        let rules = HistoryRules::new(vec![
            HistoryRule {
                pattern: "tmp:*".into(),
                retention: short,
            },
            HistoryRule {
                pattern: "*".into(),
                retention: Retention::default(),
            },
        ]);
        assert_eq!(rules.retention("tmp:x"), Some(short));
        assert_eq!(rules.retention("lobby"), Some(Retention::default()));
        assert_eq!(HistoryRules::default().retention("lobby"), None);
    }
}
