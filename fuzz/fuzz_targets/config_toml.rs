//! The server's TOML configuration parser, `chorus::Config::from_toml`.
//!
//! Besides "never panics", it checks that an accepted configuration passes
//! [`Config::validate`], and that writing it back as TOML and parsing that gives the same
//! configuration; and that a refused one names the file in its message when it is a parse
//! error.
#![no_main]

use chorus::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text, ORIGIN) {
        Ok(config) => {
            config.validate().expect("an accepted config is valid");
            let again = toml::to_string(&config).expect("a config serialises");
            let back = Config::from_toml(&again, ORIGIN)
                .unwrap_or_else(|e| panic!("{again}\ndoes not parse back: {e}"));
            assert_eq!(back, config, "{again}");
        }
        Err(err @ ConfigError::Parse { .. }) => {
            assert!(err.to_string().contains(ORIGIN), "{err}");
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
