//! Durations as people write them in the config and on the command line:
//! `90` or `90s`, `5m`, `2h`, `1d`.

/// Whole seconds of `90`, `90s`, `5m`, `2h` or `1d`; None for anything
/// else, zero included.
pub fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&s| s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_and_bad_text_is_none() {
        assert_eq!(parse_seconds("90"), Some(90));
        assert_eq!(parse_seconds(" 90s "), Some(90));
        assert_eq!(parse_seconds("5m"), Some(300));
        assert_eq!(parse_seconds("2h"), Some(7200));
        assert_eq!(parse_seconds("1d"), Some(86_400));
        for bad in [
            "",
            "5x",
            "-5",
            "1.5",
            "0s",
            "0",
            "m",
            "5 m",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }
}
