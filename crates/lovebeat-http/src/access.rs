//! Who may talk to lovebeat over HTTP: bearer tokens (`[http]
//! write_tokens`, `read_tokens`), asked once per request by `guard`.

use subtle::ConstantTimeEq;

/// What a request needs: nothing, a read token or a write token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Nothing,
    Read,
    Write,
}

/// What a request presented, measured against [`Tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    /// No token, or one lovebeat does not know: 401.
    Unauthenticated,
    /// A read token on a write: 403.
    Forbidden,
}

/// `[http] write_tokens`, `read_tokens` and which reads stay public.
///
/// Writes need a write token when any is set; reads need a read (or write)
/// token when any read token is set. `/status` and `/metrics` may stay
/// public (`public_status`, `public_metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub write: Vec<String>,
    pub read: Vec<String>,
    pub public_status: bool,
    pub public_metrics: bool,
}

impl Tokens {
    /// Whether anything is protected at all.
    pub fn is_open(&self) -> bool {
        self.write.is_empty() && self.read.is_empty()
    }

    /// Whether `presented` (a bearer token, if any) may do what `need` asks.
    pub fn grants(&self, need: Need, presented: Option<&str>) -> Verdict {
        let is_write = presented.is_some_and(|t| known(&self.write, t));
        let is_read = is_write || presented.is_some_and(|t| known(&self.read, t));
        let allowed = match need {
            Need::Nothing => true,
            Need::Read => self.read.is_empty() || is_read,
            Need::Write => self.write.is_empty() || is_write,
        };
        match () {
            _ if allowed => Verdict::Granted,
            _ if is_read => Verdict::Forbidden,
            _ => Verdict::Unauthenticated,
        }
    }
}

/// Whether `token` is one of `tokens`, comparing in time that does not
/// depend on where the first difference is.
fn known(tokens: &[String], token: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        found | bool::from(t.as_bytes().ct_eq(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_tokens_everything_is_granted() {
        let open = Tokens::default();
        assert!(open.is_open());
        assert_eq!(open.grants(Need::Write, None), Verdict::Granted);
        assert_eq!(open.grants(Need::Read, Some("x")), Verdict::Granted);
    }

    #[test]
    fn write_tokens_guard_writes_only() {
        let t = Tokens {
            write: vec!["w".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Write, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("x")), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, None), Verdict::Granted);
    }

    #[test]
    fn read_tokens_guard_reads_and_write_tokens_read_too() {
        let t = Tokens {
            write: vec!["w".into()],
            read: vec!["r".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Read, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Read, Some("r")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Write, Some("r")), Verdict::Forbidden);
        assert_eq!(t.grants(Need::Nothing, None), Verdict::Granted);
    }

    #[test]
    fn tokens_compare_whole() {
        let tokens = ["secret".to_owned(), "other".to_owned()];
        assert!(!known(&tokens, "secre"));
        assert!(!known(&tokens, "secreT"));
        assert!(!known(&tokens, "secretsecret"));
        assert!(known(&tokens, "secret"));
        assert!(known(&tokens, "other"));
    }
}
