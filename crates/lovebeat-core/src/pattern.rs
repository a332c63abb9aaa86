//! View membership: which view instance a service belongs to under one
//! configured template.
//!
//! Two kinds of template. Legacy `[[views]]` entries are a Rust regex matched
//! unanchored (a substring match), under a fixed name (§11). 1.0 `[[alarms]]`
//! entries are globs (§4.2): anchored, `*` matches anything (dots included)
//! and `$ident` captures one dot-free segment, which the name template can
//! use, so one template yields many views. `lovebeat-config` compiles entries
//! into [`ViewTemplate`]s and the engine asks [`ViewTemplate::view_for`] when a
//! service is created or loaded. Views' state and alerting are not here.

use std::fmt;

use regex::{Captures, Regex};

/// One `[[views]]` or `[[alarms]]` config entry, compiled.
#[derive(Debug, Clone)]
pub struct ViewTemplate {
    /// The view name, or for globs the name template with `$ident` variables.
    name: String,
    matcher: Matcher,
    /// The one view name every member gets, when it does not depend on the service.
    static_name: Option<String>,
    /// `[[alarms]] team`: only services labelled with this team are members.
    team: Option<String>,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// Legacy: unanchored regex, no captures used.
    Regex(Regex),
    /// 1.0: the first matching include gives the captures; any exclude vetoes.
    Glob {
        includes: Vec<Regex>,
        excludes: Vec<Regex>,
    },
}

impl ViewTemplate {
    /// Legacy `[[views]] name, regexp`: a Rust regex matched UNANCHORED
    /// (substring), the name used as is.
    pub fn regex(name: &str, regexp: &str) -> Result<ViewTemplate, PatternError> {
        let regex = Regex::new(regexp).map_err(|err| PatternError::syntax(regexp, err))?;
        Ok(ViewTemplate {
            name: name.to_owned(),
            matcher: Matcher::Regex(regex),
            static_name: Some(name.to_owned()),
            team: None,
        })
    }

    /// 1.0 `[[alarms]] name, pattern, includes, excludes`: `pattern` (if
    /// Some) is appended to includes; §4.2 glob language. A template with no
    /// includes at all is valid and matches nothing.
    pub fn glob(
        name: &str,
        pattern: Option<&str>,
        includes: &[String],
        excludes: &[String],
    ) -> Result<ViewTemplate, PatternError> {
        let includes = includes
            .iter()
            .map(String::as_str)
            .chain(pattern)
            .map(compile_glob)
            .collect::<Result<Vec<_>, _>>()?;
        let excludes = excludes
            .iter()
            .map(|glob| compile_glob(glob))
            .collect::<Result<Vec<_>, _>>()?;
        let captured = |var: &str| {
            includes
                .iter()
                .any(|include| include.capture_names().any(|n| n == Some(var)))
        };
        let is_static = !template_vars(name).any(captured);
        Ok(ViewTemplate {
            name: name.to_owned(),
            static_name: is_static.then(|| expand(name, |_| None)),
            matcher: Matcher::Glob { includes, excludes },
            team: None,
        })
    }

    /// This template, restricted to the services of one team.
    pub fn with_team(mut self, team: Option<String>) -> ViewTemplate {
        self.team = team;
        self
    }

    /// The team a service must have to be a member, if any.
    pub fn team(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// [`ViewTemplate::view_for`] for a service with a `team` label: a
    /// template with a team takes only that team's services.
    pub fn view_for_member(&self, service: &str, team: Option<&str>) -> Option<String> {
        match &self.team {
            Some(wanted) if team != Some(wanted.as_str()) => None,
            _ => self.view_for(service),
        }
    }

    /// The view instance this service belongs to under this template, or
    /// None. First matching include wins; any matching exclude → None; the
    /// name template is expanded with that include's captures (§4.2 rules:
    /// longest identifier; unknown `$var` → the identifier without the `$`).
    pub fn view_for(&self, service: &str) -> Option<String> {
        match &self.matcher {
            Matcher::Regex(regex) => regex.is_match(service).then(|| self.name.clone()),
            Matcher::Glob { includes, excludes } => {
                let captures = includes.iter().find_map(|r| r.captures(service))?;
                if excludes.iter().any(|r| r.is_match(service)) {
                    return None;
                }
                Some(self.expand_with(&captures))
            }
        }
    }

    /// The name if it does not depend on the service (a static view that
    /// exists from startup), else None. For a glob whose name uses `$vars`
    /// that no include captures, that is the expanded name (`$` dropped).
    pub fn static_name(&self) -> Option<&str> {
        self.static_name.as_deref()
    }

    /// The name as configured, `$variables` unexpanded.
    pub fn name_template(&self) -> &str {
        &self.name
    }

    fn expand_with(&self, captures: &Captures<'_>) -> String {
        match &self.static_name {
            Some(name) => name.clone(),
            None => expand(&self.name, |var| captures.name(var).map(|m| m.as_str())),
        }
    }
}

/// A piece of a glob or name template.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// Text taken literally.
    Literal(&'a str),
    /// `*` (globs only; literal in name templates).
    Star,
    /// `$ident`: the longest run of `[a-z]` after a `$`.
    Var(&'a str),
}

/// Splits a glob (`stars` true) or a name template into tokens. A `$` not
/// followed by a lowercase ASCII letter is literal.
struct Tokens<'a> {
    rest: &'a str,
    stars: bool,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.rest.as_bytes();
        let first = *bytes.first()?;
        let (token, len) = if self.stars && first == b'*' {
            (Token::Star, 1)
        } else if let Some(ident_len) = var_len(bytes) {
            (Token::Var(&self.rest[1..=ident_len]), 1 + ident_len)
        } else {
            // Up to the next special character; `$`, `*` and a-z are ASCII,
            // so byte positions are char boundaries.
            let len = (1..bytes.len())
                .find(|&i| (self.stars && bytes[i] == b'*') || var_len(&bytes[i..]).is_some())
                .unwrap_or(bytes.len());
            (Token::Literal(&self.rest[..len]), len)
        };
        self.rest = &self.rest[len..];
        Some(token)
    }
}

/// If `bytes` starts with `$ident`, the length of `ident`.
fn var_len(bytes: &[u8]) -> Option<usize> {
    let (&b'$', rest) = bytes.split_first()? else {
        return None;
    };
    let len = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
    (len > 0).then_some(len)
}

/// The `$ident` variables a name template uses, in order.
fn template_vars(template: &str) -> impl Iterator<Item = &str> {
    let tokens = Tokens {
        rest: template,
        stars: false,
    };
    tokens.filter_map(|token| match token {
        Token::Var(var) => Some(var),
        _ => None,
    })
}

/// §4.2: the anchored regex for a glob. Everything is escaped and wrapped in
/// `^…$`, `*` becomes `.*` (crossing dots) and `$ident` (`[a-z]+`, greedy)
/// becomes `(?P<ident>[^\.]+)`.
pub fn glob_to_regex(pattern: &str) -> String {
    let mut regex = String::with_capacity(pattern.len() + 8);
    regex.push('^');
    let tokens = Tokens {
        rest: pattern,
        stars: true,
    };
    for token in tokens {
        match token {
            Token::Literal(text) => regex.push_str(&regex::escape(text)),
            Token::Star => regex.push_str(".*"),
            Token::Var(var) => {
                regex.push_str("(?P<");
                regex.push_str(var);
                regex.push_str(r">[^\.]+)");
            }
        }
    }
    regex.push('$');
    regex
}

/// Compiles one glob, rejecting a variable used twice (the regex would have
/// two groups of the same name).
fn compile_glob(pattern: &str) -> Result<Regex, PatternError> {
    let tokens = Tokens {
        rest: pattern,
        stars: true,
    };
    let mut seen: Vec<&str> = Vec::new();
    for token in tokens {
        if let Token::Var(var) = token {
            if seen.contains(&var) {
                return Err(PatternError {
                    pattern: pattern.to_owned(),
                    kind: PatternErrorKind::DuplicateVariable(var.to_owned()),
                });
            }
            seen.push(var);
        }
    }
    Regex::new(&glob_to_regex(pattern)).map_err(|err| PatternError::syntax(pattern, err))
}

/// Expands every `$ident` (longest `[a-z]+` run) in a name template with
/// `lookup(ident)`; an ident it does not know is kept without its `$`.
pub fn expand<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut name = String::with_capacity(template.len());
    let tokens = Tokens {
        rest: template,
        stars: false,
    };
    for token in tokens {
        match token {
            Token::Literal(text) => name.push_str(text),
            Token::Star => name.push('*'),
            Token::Var(var) => name.push_str(lookup(var).unwrap_or(var)),
        }
    }
    name
}

/// A view or alarm pattern that does not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError {
    pattern: String,
    kind: PatternErrorKind,
}

/// Why a pattern does not compile.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// The regex (legacy) or the regex a glob becomes was rejected, e.g. a
    /// syntax error or a pattern over the size limit.
    Regex(regex::Error),
    /// A glob uses the same `$variable` twice.
    DuplicateVariable(String),
}

impl PatternError {
    fn syntax(pattern: &str, err: regex::Error) -> PatternError {
        PatternError {
            pattern: pattern.to_owned(),
            kind: PatternErrorKind::Regex(err),
        }
    }

    /// The pattern as configured.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Why it was rejected.
    pub fn kind(&self) -> &PatternErrorKind {
        &self.kind
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid pattern {:?}: ", self.pattern)?;
        match &self.kind {
            PatternErrorKind::Regex(err) => f.write_str(&one_line(err)),
            PatternErrorKind::DuplicateVariable(var) => {
                write!(f, "variable ${var} is used more than once")
            }
        }
    }
}

impl std::error::Error for PatternError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            PatternErrorKind::Regex(err) => Some(err),
            PatternErrorKind::DuplicateVariable(_) => None,
        }
    }
}

/// The reason from a regex error, without the multi-line caret diagram that
/// syntax errors carry (the full text stays available through `source()`).
fn one_line(err: &regex::Error) -> String {
    let text = err.to_string();
    match text.lines().rev().find_map(|l| l.strip_prefix("error: ")) {
        Some(reason) => reason.to_owned(),
        None => text.replace('\n', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_template_takes_only_that_team() {
        let template = ViewTemplate::glob("ops", Some("*"), &[], &[])
            .unwrap()
            .with_team(Some("ops".into()));
        assert_eq!(
            template.view_for_member("a", Some("ops")).as_deref(),
            Some("ops")
        );
        assert_eq!(template.view_for_member("a", Some("dev")), None);
        assert_eq!(template.view_for_member("a", None), None);
        let any = ViewTemplate::glob("all", Some("*"), &[], &[]).unwrap();
        assert_eq!(
            any.view_for_member("a", Some("dev")).as_deref(),
            Some("all")
        );
    }
    use proptest::prelude::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn alarm(name: &str, pattern: &str) -> ViewTemplate {
        ViewTemplate::glob(name, Some(pattern), &[], &[]).unwrap()
    }

    fn expand_for(pattern: &str, service: &str, template: &str) -> String {
        let regex = Regex::new(&glob_to_regex(pattern)).unwrap();
        let captures = regex.captures(service).unwrap();
        expand(template, |var| captures.name(var).map(|m| m.as_str()))
    }

    #[test]
    fn glob_regex_is_escaped_and_anchored() {
        assert_eq!(
            glob_to_regex("test.$name.*"),
            r"^test\.(?P<name>[^\.]+)\..*$"
        );
    }

    #[test]
    fn glob_variable_is_a_named_group() {
        let regex = Regex::new(&glob_to_regex("test.$name.*")).unwrap();
        assert_eq!(regex.capture_names().nth(1), Some(Some("name")));
        let captures = regex.captures("test.foobar.fie.fum").unwrap();
        assert_eq!(&captures[1], "foobar");
    }

    #[test]
    fn name_expands_captured_variables() {
        let name = expand_for("test.$name.*", "test.foobar.fie.fum", "foo.$name.fofum");
        assert_eq!(name, "foo.foobar.fofum");
    }

    #[test]
    fn name_keeps_unknown_variables_without_dollar() {
        let name = expand_for(
            "test.$name.*",
            "test.foobar.fie.fum",
            "foo.$somethingelse.fofum",
        );
        assert_eq!(name, "foo.somethingelse.fofum");
    }

    #[test]
    fn name_variables_are_the_longest_identifier() {
        let name = expand_for("test.$name.$namefoo", "test.foo.bar", "name.$namefoo.$name");
        assert_eq!(name, "name.bar.foo");
    }

    #[test]
    fn lone_dollar_is_literal() {
        assert_eq!(expand("a$.$1$", |_| Some("x")), "a$.$1$");
        assert_eq!(glob_to_regex("a$"), r"^a\$$");
        assert_eq!(alarm("x", "a$.b").view_for("a$.b").as_deref(), Some("x"));
    }

    #[test]
    fn glob_star_crosses_dots() {
        let template = alarm("all", "app.*");
        assert_eq!(template.view_for("app.a.b.c").as_deref(), Some("all"));
        assert_eq!(template.view_for("app.").as_deref(), Some("all"));
        assert_eq!(template.view_for("other.app.a"), None);
    }

    #[test]
    fn glob_variable_matches_one_segment() {
        let template = alarm("server-$name", "app.$name");
        assert_eq!(template.view_for("app.web").as_deref(), Some("server-web"));
        assert_eq!(template.view_for("app.web.1"), None);
        assert_eq!(template.view_for("app."), None);
    }

    #[test]
    fn glob_is_anchored() {
        let template = alarm("x", "a.b");
        assert_eq!(template.view_for("a.b").as_deref(), Some("x"));
        assert_eq!(template.view_for("xa.b"), None);
        assert_eq!(template.view_for("a.bx"), None);
        assert_eq!(template.view_for("axb"), None);
    }

    #[test]
    fn glob_escapes_regex_metacharacters() {
        let template = alarm("x", "a+b.*");
        assert_eq!(template.view_for("a+b.x").as_deref(), Some("x"));
        assert_eq!(template.view_for("aab.x"), None);
        let template = alarm("y", "(a|b)?[c]{2}^\\");
        assert_eq!(template.view_for("(a|b)?[c]{2}^\\").as_deref(), Some("y"));
        assert_eq!(template.view_for("acc"), None);
    }

    #[test]
    fn pattern_is_appended_to_includes() {
        let includes = strings(&["first.$name.*"]);
        let template = ViewTemplate::glob("v-$name", Some("$name.last"), &includes, &[]).unwrap();
        assert_eq!(template.view_for("first.a.last").as_deref(), Some("v-a"));
        assert_eq!(template.view_for("b.last").as_deref(), Some("v-b"));
    }

    #[test]
    fn first_matching_include_gives_the_captures() {
        let includes = strings(&["$name.x.*", "x.$name.*"]);
        let template = ViewTemplate::glob("v-$name", None, &includes, &[]).unwrap();
        assert_eq!(template.view_for("a.x.b").as_deref(), Some("v-a"));
        assert_eq!(template.view_for("x.x.b").as_deref(), Some("v-x"));
        assert_eq!(template.view_for("x.b.c").as_deref(), Some("v-b"));
    }

    #[test]
    fn any_matching_exclude_removes_the_service() {
        let includes = strings(&["source.$name.*", "old.$name.*"]);
        let excludes = strings(&["nothing", "*.deprecated.*"]);
        let template = ViewTemplate::glob("s-$name", None, &includes, &excludes).unwrap();
        assert_eq!(template.view_for("source.web.1").as_deref(), Some("s-web"));
        assert_eq!(template.view_for("old.web.1").as_deref(), Some("s-web"));
        assert_eq!(template.view_for("source.deprecated.1"), None);
        assert_eq!(template.view_for("old.deprecated.1"), None);
    }

    #[test]
    fn glob_without_includes_matches_nothing() {
        let template = ViewTemplate::glob("x", None, &[], &[]).unwrap();
        assert_eq!(template.view_for("anything"), None);
    }

    #[test]
    fn regex_views_match_unanchored() {
        let template = ViewTemplate::regex("web", r"web\.").unwrap();
        assert_eq!(template.view_for("prod.web.1").as_deref(), Some("web"));
        assert_eq!(template.view_for("prod.webx"), None);
        let all = ViewTemplate::regex("all", "").unwrap();
        assert_eq!(all.view_for("anything").as_deref(), Some("all"));
    }

    #[test]
    fn regex_view_names_are_not_expanded() {
        let template = ViewTemplate::regex("v-$name", "(?P<name>a)").unwrap();
        assert_eq!(template.view_for("a").as_deref(), Some("v-$name"));
        assert_eq!(template.static_name(), Some("v-$name"));
    }

    #[test]
    fn static_name_is_the_name_without_captured_variables() {
        assert_eq!(alarm("web", "app.$name").static_name(), Some("web"));
        assert_eq!(alarm("web-$name", "app.$name").static_name(), None);
        let template = alarm("web-$other", "app.$name");
        assert_eq!(template.static_name(), Some("web-other"));
        assert_eq!(template.view_for("app.a").as_deref(), Some("web-other"));
        assert_eq!(template.name_template(), "web-$other");
    }

    #[test]
    fn static_name_considers_every_include() {
        let includes = strings(&["a.*", "b.$name"]);
        let template = ViewTemplate::glob("v-$name", None, &includes, &[]).unwrap();
        assert_eq!(template.static_name(), None);
        assert_eq!(template.view_for("a.x").as_deref(), Some("v-name"));
        assert_eq!(template.view_for("b.x").as_deref(), Some("v-x"));
    }

    #[test]
    fn duplicate_variable_is_an_error() {
        let err = ViewTemplate::glob("x", Some("a.$x.$x"), &[], &[]).unwrap_err();
        assert_eq!(err.kind(), &PatternErrorKind::DuplicateVariable("x".into()));
        assert_eq!(
            err.to_string(),
            r#"invalid pattern "a.$x.$x": variable $x is used more than once"#
        );
        let excludes = strings(&["$y.$y"]);
        let err = ViewTemplate::glob("x", Some("a"), &[], &excludes).unwrap_err();
        assert_eq!(err.pattern(), "$y.$y");
    }

    #[test]
    fn invalid_regex_names_the_pattern_on_one_line() {
        let err = ViewTemplate::regex("x", "a(b").unwrap_err();
        assert_eq!(err.pattern(), "a(b");
        let message = err.to_string();
        assert!(
            message.starts_with(r#"invalid pattern "a(b": "#),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        assert!(std::error::Error::source(&err).is_some());
    }

    proptest! {
        #[test]
        fn glob_compilation_never_panics(pattern in ".*", service in "[a-z0-9._$*-]{0,20}") {
            if let Ok(template) = ViewTemplate::glob(&pattern, Some(&pattern), &[], &[]) {
                let _ = template.view_for(&service);
                let _ = template.view_for(&pattern);
            }
        }

        #[test]
        fn glob_with_many_variables_never_panics(
            name in "[a-z$*.]{0,30}",
            pattern in "[a-z$*.\\\\]{0,30}",
            service in "[a-z.]{0,20}",
        ) {
            if let Ok(template) = ViewTemplate::glob(&name, Some(&pattern), &[], &[]) {
                let _ = template.view_for(&service);
            }
        }

        #[test]
        fn glob_matches_itself_when_star_free(pattern in "[a-z0-9._+()|?^\\[\\]{}-]{0,20}") {
            let template = ViewTemplate::glob("x", Some(&pattern), &[], &[]).unwrap();
            prop_assert_eq!(template.view_for(&pattern), Some("x".to_owned()));
        }
    }
}
