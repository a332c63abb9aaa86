//! `[auto]`: how AUTO timeouts are estimated, into the engine's config.

use lovebeat_core::EngineConfig;

use crate::check::Checker;
use crate::raw;

/// The most beat intervals `[auto] history` may keep per service.
pub const MAX_HISTORY: usize = 10_000;

/// `[auto]` over the defaults in `engine`.
pub(crate) fn apply(c: &mut Checker<'_>, engine: &mut EngineConfig, auto: raw::Auto) {
    c.set(
        &mut engine.algorithm,
        "[auto] algorithm",
        auto.algorithm,
        |s| s.parse().map_err(|err| format!("{err}")),
    );
    c.set(&mut engine.history, "[auto] history", auto.history, history);
}

/// Beat intervals kept per service, 1 to [`MAX_HISTORY`].
fn history(value: i64) -> Result<usize, String> {
    usize::try_from(value)
        .ok()
        .filter(|n| (1..=MAX_HISTORY).contains(n))
        .ok_or_else(|| format!("must be from 1 to {MAX_HISTORY} (got {value})"))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn bad_algorithm_names_file_line_and_key() {
        assert_eq!(
            error("[auto]\nalgorithm = \"mean\"\n"),
            "/etc/lovebeat.cfg:2: [auto] algorithm: \
             unknown AUTO algorithm \"mean\" (expected one of: \"median\" \"adaptive\" \"rhythm\")"
        );
    }
}
