//! What a parsed line asks for: [`Command`], its [`Action`] and, for service
//! checks, a [`CheckStatus`].
//!
//! Plain data borrowed from the input buffer; `core` decides what each action
//! does to a service.

/// What a line asks lovebeat to do to the named service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `beat`: register a heartbeat. The value is ignored.
    Beat,
    /// `autobeat`: set the error timeout to AUTO and beat, in one update. The
    /// value is ignored.
    Autobeat,
    /// `timeout` (or legacy `err`): set the error timeout to [`Command::value_ms`].
    ErrTimeout,
    /// `warn`: set the warning timeout to [`Command::value_ms`].
    WarnTimeout,
    /// `fail`: report an explicit failure now. The value is ignored.
    Fail,
    /// `start`: a run of the job starts. The value is ignored.
    Start,
    /// `exit`: the job ended with the exit status in the value (0 to 255):
    /// 0 is a beat, anything else a failure.
    Exit,
    /// A DogStatsD service check (`_sc|…`) with its reported status.
    Check(CheckStatus),
}

impl Action {
    /// A stable lowercase label for logs and metrics (`err` lines give `"timeout"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Beat => "beat",
            Action::Autobeat => "autobeat",
            Action::ErrTimeout => "timeout",
            Action::WarnTimeout => "warn",
            Action::Fail => "fail",
            Action::Start => "start",
            Action::Exit => "exit",
            Action::Check(_) => "check",
        }
    }

    /// Whether the value is a timeout, and so must be >= -2.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Action::ErrTimeout | Action::WarnTimeout)
    }
}

/// The status field of a DogStatsD service check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// `0`
    Ok,
    /// `1`
    Warning,
    /// `2`: lovebeat's "error".
    Critical,
    /// `3`
    Unknown,
}

impl CheckStatus {
    /// The status for a wire code `0..=3`, or `None`.
    pub fn from_code(code: u8) -> Option<CheckStatus> {
        match code {
            0 => Some(CheckStatus::Ok),
            1 => Some(CheckStatus::Warning),
            2 => Some(CheckStatus::Critical),
            3 => Some(CheckStatus::Unknown),
            _ => None,
        }
    }

    /// The wire code, `0..=3`.
    pub fn code(&self) -> u8 {
        match self {
            CheckStatus::Ok => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Critical => 2,
            CheckStatus::Unknown => 3,
        }
    }

    /// A stable lowercase label: `ok`, `warning`, `critical`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
            CheckStatus::Unknown => "unknown",
        }
    }
}

/// One accepted line. Borrows from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The service name; always satisfies [`crate::is_valid_name`].
    pub name: &'a str,
    pub action: Action,
    /// The value as sent, in seconds for timeouts. Always >= -2 for timeout
    /// actions; 0 for service checks. See [`Command::value_ms`].
    pub value: i64,
    /// The `m:` text of a service check; `None` for statsd lines and for an
    /// absent or empty message.
    pub message: Option<&'a str>,
}

impl Command<'_> {
    /// The value converted the way lovebeat 1.0 did: see [`value_to_ms`].
    pub fn value_ms(&self) -> i64 {
        value_to_ms(self.value)
    }
}

/// lovebeat 1.0's seconds → milliseconds rule, shared by lines and HTTP:
/// a value > 0 is seconds and is multiplied by 1000 (saturating), a value
/// <= 0 is a special timeout (0 always, -1 clear, -2 auto) and is kept as is.
pub fn value_to_ms(value: i64) -> i64 {
    if value > 0 {
        value.saturating_mul(1000)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(value: i64) -> Command<'static> {
        Command {
            name: "x",
            action: Action::ErrTimeout,
            value,
            message: None,
        }
    }

    #[test]
    fn positive_values_are_seconds() {
        assert_eq!(command(1).value_ms(), 1000);
        assert_eq!(command(3600).value_ms(), 3_600_000);
    }

    #[test]
    fn special_values_are_kept() {
        for v in [0, -1, -2, -5, i64::MIN] {
            assert_eq!(command(v).value_ms(), v);
        }
    }

    #[test]
    fn conversion_saturates() {
        assert_eq!(command(i64::MAX).value_ms(), i64::MAX);
        assert_eq!(value_to_ms(i64::MAX / 1000 + 1), i64::MAX);
    }

    #[test]
    fn check_status_codes_round_trip() {
        for code in 0..=3 {
            assert_eq!(CheckStatus::from_code(code).unwrap().code(), code);
        }
        assert_eq!(CheckStatus::from_code(4), None);
    }

    #[test]
    fn only_err_and_warn_are_timeouts() {
        assert!(Action::ErrTimeout.is_timeout());
        assert!(Action::WarnTimeout.is_timeout());
        assert!(!Action::Autobeat.is_timeout());
        assert!(!Action::Fail.is_timeout());
        assert!(!Action::Check(CheckStatus::Ok).is_timeout());
    }
}
