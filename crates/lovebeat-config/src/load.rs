//! Reading the files: which ones (`--config`, then `--config-dir` in name
//! order), their text, one parse each, merged in order over the defaults
//! and validated; and [`Sources`], which turns a span of the merged files
//! back into a file and a line.

use std::fs;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Problem};
use crate::{Config, locate, raw, validate};

/// The main config file read when `--config` is not given; skipped if missing.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/lovebeat.cfg";

/// The directory whose files are read after the main config file.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/lovebeat.conf.d";

/// The files to read, in order: `config` (or [`DEFAULT_CONFIG_FILE`] when
/// None, skipped if it does not exist; a missing file given explicitly is an
/// error), then every entry of `config_dir` whose name does not start with
/// `.`, sorted by name. A missing `config_dir` is ignored; its
/// subdirectories are skipped. An entry that cannot be resolved (a dangling
/// symlink, a symlink into a directory lovebeat may not enter) or that is
/// neither a file nor a directory is an error naming it: skipping it would
/// start lovebeat without what it says (its tokens, say).
pub fn resolve_files(
    config: Option<&Path>,
    config_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    resolve_files_with_default(config, Path::new(DEFAULT_CONFIG_FILE), config_dir)
}

/// [`resolve_files`] with another default main file (for tests).
pub(crate) fn resolve_files_with_default(
    config: Option<&Path>,
    default: &Path,
    config_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let main = config.unwrap_or(default);
    match fs::metadata(main) {
        Ok(_) => files.push(main.to_owned()),
        // Only a default that is not there at all is skipped: a dangling
        // symlink is there.
        Err(err)
            if err.kind() == io::ErrorKind::NotFound
                && config.is_none()
                && fs::symlink_metadata(main).is_err() => {}
        Err(err) => return Err(ConfigError::new(io_problem(main, CANNOT_READ_FILE, &err))),
    }
    let entries = match fs::read_dir(config_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(err) => {
            return Err(ConfigError::new(io_problem(
                config_dir,
                CANNOT_READ_DIR,
                &err,
            )));
        }
    };
    let mut dir_files = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| ConfigError::new(io_problem(config_dir, CANNOT_READ_DIR, &err)))?
            .path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        if hidden {
            continue;
        }
        match dir_entry_kind(&path) {
            Ok(EntryKind::File) => dir_files.push(path),
            Ok(EntryKind::Directory) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| a.file.cmp(&b.file));
        return Err(ConfigError { problems });
    }
    dir_files.sort();
    files.extend(dir_files);
    Ok(files)
}

/// What a `--config-dir` entry is, symlinks followed.
enum EntryKind {
    File,
    Directory,
}

/// A file to read, a subdirectory to skip, or why the entry can be
/// neither.
fn dir_entry_kind(path: &Path) -> Result<EntryKind, Problem> {
    let problem = |message: String| Problem {
        file: path.display().to_string(),
        line: None,
        key: None,
        message,
    };
    let metadata = fs::metadata(path).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound {
            problem(
                "cannot read config file: a symlink to a file that does not exist \
                 (remove the link or restore its target)"
                    .to_owned(),
            )
        } else {
            problem(format!("{CANNOT_READ_FILE}: {err}"))
        }
    })?;
    if metadata.is_file() {
        Ok(EntryKind::File)
    } else if metadata.is_dir() {
        Ok(EntryKind::Directory)
    } else {
        Err(problem(
            "not a regular file: keep only config files in the config directory".to_owned(),
        ))
    }
}

/// The largest config file read, in bytes: a config file is a few
/// kilobytes, and `--config /dev/zero` (or a log file named by mistake)
/// must not be read without end.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads and merges `files` (as [`resolve_files`] gives them) over the
/// defaults. No files gives [`Config::default`].
pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut texts = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    for file in files {
        match read_file(file) {
            Ok(text) => texts.push((file.display().to_string(), text)),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    build(texts)
}

/// A config file's text, at most [`MAX_FILE_BYTES`] of it.
fn read_file(path: &Path) -> Result<String, Problem> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| io_problem(path, CANNOT_READ_FILE, &err))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Problem {
            file: path.display().to_string(),
            line: None,
            key: None,
            message: format!(
                "larger than {} MiB, the most a config file may be: is this the right file?",
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    String::from_utf8(bytes).map_err(|err| {
        let err = io::Error::new(io::ErrorKind::InvalidData, err);
        io_problem(path, CANNOT_READ_FILE, &err)
    })
}

/// One config text over the defaults, as if it were a file named
/// `origin`: for tests.
pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    build(vec![(origin.to_owned(), text.to_owned())])
}

/// Parses config texts as if they were files, `(origin, text)` in order,
/// merged over the defaults as [`load`] merges files: for tests and
/// fuzzing.
pub fn from_strs(files: &[(&str, &str)]) -> Result<Config, ConfigError> {
    build(
        files
            .iter()
            .map(|(o, t)| (o.to_string(), t.to_string()))
            .collect(),
    )
}

const CANNOT_READ_FILE: &str = "cannot read config file";
const CANNOT_READ_DIR: &str = "cannot read config directory";

fn io_problem(path: &Path, what: &str, err: &io::Error) -> Problem {
    Problem {
        file: path.display().to_string(),
        line: None,
        key: None,
        message: format!("{what}: {err}"),
    }
}

/// Parses every `(origin, text)`, merges them in order and validates.
pub(crate) fn build(files: Vec<(String, String)>) -> Result<Config, ConfigError> {
    let mut sources = Sources::default();
    let mut merged = raw::File::default();
    let mut problems = Vec::new();
    for (origin, text) in files {
        match parse_file(&origin, &text) {
            Ok(file) => merged.merge(raw::Rebase::rebase(file, sources.next_base())),
            Err(problem) => problems.push(problem),
        }
        sources.add(origin, text);
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    validate::from_raw(merged, &sources)
}

/// One file's TOML into the raw layer, its spans still offsets into `text`.
fn parse_file(origin: &str, text: &str) -> Result<raw::File, Problem> {
    let mut file: raw::File = toml::from_str(text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        Problem {
            file: origin.to_owned(),
            line: Some(line_of(text, offset)),
            key: locate::key_at(text, offset),
            message: err.message().trim().replace('\n', "; "),
        }
    })?;
    // Go read `public_url` only from [general]; its sample put it at the
    // top. Take either, but not two different values from one file.
    if let Some(general) = file.general.public_url.take() {
        if let Some(top) = file
            .public_url
            .as_ref()
            .filter(|top| top.get_ref() != general.get_ref())
        {
            return Err(Problem {
                file: origin.to_owned(),
                line: Some(line_of(text, general.span().start)),
                key: Some("[general] public_url".to_owned()),
                message: format!(
                    "conflicts with the top-level public_url on line {}; keep one",
                    line_of(text, top.span().start)
                ),
            });
        }
        file.public_url = Some(general);
    }
    Ok(file)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The text of every file read, laid end to end (with one byte between
/// files): a span in the merged raw config is an offset into this, which
/// gives the file and the line.
#[derive(Default)]
pub(crate) struct Sources {
    files: Vec<Source>,
}

struct Source {
    origin: String,
    text: String,
    /// Where this file starts in the shared offset space.
    base: usize,
}

impl Sources {
    /// The base the next file added will get.
    fn next_base(&self) -> usize {
        self.files.last().map_or(0, |f| f.base + f.text.len() + 1)
    }

    fn add(&mut self, origin: String, text: String) {
        let base = self.next_base();
        self.files.push(Source { origin, text, base });
    }

    /// The file and line of a shared offset.
    pub(crate) fn site(&self, offset: usize) -> (&str, usize) {
        let file = self.file_at(offset);
        (&file.origin, line_of(&file.text, offset - file.base))
    }

    /// The text of a shared span, as written.
    pub(crate) fn text(&self, span: Range<usize>) -> &str {
        let file = self.file_at(span.start);
        file.text
            .get(span.start - file.base..span.end - file.base)
            .unwrap_or("")
    }

    fn file_at(&self, offset: usize) -> &Source {
        self.files
            .iter()
            .rev()
            .find(|f| f.base <= offset)
            .expect("a span from a file that was never added")
    }
}

#[cfg(test)]
mod tests {
    use lovebeat_alert::Entry;

    use super::*;
    use crate::ListenAddr;
    use crate::testing::*;

    /// A scratch directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("lovebeat-config-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The config fuzz target's committed inputs (its seed corpus, and the
    /// inputs of fixed findings) load without a panic, with errors that
    /// name a file and are one line each.
    #[test]
    fn the_fuzz_corpus_loads_or_is_refused_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
        for entry in fs::read_dir(dir).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let files: Vec<(String, String)> = (text.split('\0').enumerate())
                .map(|(i, t)| (format!("f{i}.toml"), t.to_owned()))
                .collect();
            if let Err(error) = build(files) {
                assert!(error.to_string().lines().all(|l| l.starts_with('f')));
            }
        }
    }

    #[test]
    fn public_url_in_general_and_a_slash_is_added() {
        let config = parse("[general]\npublic_url = \"http://x:8080\"\n");
        assert_eq!(config.alert.public_url, "http://x:8080/");
        let both = "public_url = \"http://a/\"\n[general]\npublic_url = \"http://a/\"\n";
        assert_eq!(parse(both).alert.public_url, "http://a/");
    }

    #[test]
    fn public_url_twice_with_different_values_is_an_error() {
        let text = "public_url = \"http://a/\"\n[general]\npublic_url = \"http://b/\"\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:3: [general] public_url: \
             conflicts with the top-level public_url on line 1; keep one"
        );
    }

    /// `build` is `load` without the file system.
    fn merge(files: &[(&str, &str)]) -> Result<Config, ConfigError> {
        build(
            files
                .iter()
                .map(|(o, t)| (o.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn later_files_override_scalars() {
        let config = merge(&[
            ("a", "[http]\nlisten = \":1\"\n[udp]\nlisten = \":2\"\n"),
            ("b", "[http]\nlisten = \":3\"\n"),
            ("c", "public_url = \"http://c/\"\n"),
        ])
        .unwrap();
        assert_eq!(config.http_listen, ListenAddr::Any(3));
        assert_eq!(config.udp_listen, ListenAddr::Any(2));
        assert_eq!(config.alert.public_url, "http://c/");
        let config = merge(&[
            ("a", "public_url = \"http://top/\""),
            ("b", "[general]\npublic_url = \"http://general/\""),
        ])
        .unwrap();
        assert_eq!(config.alert.public_url, "http://general/");
    }

    #[test]
    fn later_files_add_to_arrays() {
        let config = merge(&[
            (
                "a",
                "[[alarms]]\nname = \"a1\"\n[[notify]]\nlovebeat = \"http://p1\"\n",
            ),
            (
                "b",
                "[[alarms]]\nname = \"b1\"\n[[views]]\nname = \"v\"\nregexp = \"\"\n",
            ),
            (
                "c",
                "[[notify]]\nlovebeat = \"http://p2\"\n[[alarms]]\nname = \"c1\"\n",
            ),
        ])
        .unwrap();
        let names: Vec<_> = config
            .engine
            .views
            .iter()
            .map(|v| v.name_template())
            .collect();
        assert_eq!(names, ["a1", "b1", "c1", "v"]);
        assert_eq!(config.peers.urls, strings(&["http://p1", "http://p2"]));
    }

    #[test]
    fn later_files_replace_alerts_by_name() {
        let config = merge(&[
            (
                "a",
                "[alerts.x]\nmail = \"a@x\"\nscript = \"/s\"\n[alerts.y]\nmail = \"y@x\"\n",
            ),
            ("b", "[alerts.x]\nwebhook = \"http://h\"\n[alerts.z]\n"),
        ])
        .unwrap();
        let x = Entry {
            webhook: Some("http://h".to_owned()),
            ..Entry::default()
        };
        assert_eq!(config.alert.entries["x"], x);
        assert_eq!(config.alert.entries["y"].mail.as_deref(), Some("y@x"));
        assert_eq!(config.alert.entries["z"], Entry::default());
    }

    #[test]
    fn alarms_may_use_alerts_from_another_file() {
        let config = merge(&[
            ("a", "[[alarms]]\nname = \"a\"\nalerts = [\"ops\"]\n"),
            ("b", "[alerts.ops]\nmail = \"o@x\"\n"),
        ])
        .unwrap();
        assert_eq!(config.alert.views[0], strings(&["ops"]));
    }

    #[test]
    fn errors_and_warnings_after_merging_point_into_the_right_file() {
        let err = merge(&[
            ("first.cfg", "[http]\nlisten = \"bad\"\n"),
            (
                "second.cfg",
                "\n\n[udp]\nlisten = \"worse\"\n[http]\nlisten = \":1\"\n",
            ),
        ])
        .unwrap_err();
        // The first file's bad value was overridden: only the second's counts.
        assert_eq!(err.problems.len(), 1);
        assert!(
            err.to_string().starts_with("second.cfg:4: [udp] listen: "),
            "{err}"
        );
        let config = merge(&[
            ("a", "[[alarms]]\nname = \"a\"\nalerts = [\"nope\"]\n"),
            ("b", "[alerts.ops]\n"),
            (
                "c",
                "\n[[alarms]]\nname = \"c\"\nalerts = [\"ops\", \"nope\"]\n",
            ),
        ])
        .unwrap();
        let sites: Vec<_> = config
            .warnings
            .iter()
            .map(|p| (p.file.as_str(), p.line))
            .collect();
        assert_eq!(sites, [("a", Some(3)), ("c", Some(4))]);
    }

    #[test]
    fn every_file_with_a_syntax_error_is_reported() {
        let err = merge(&[
            ("a", "x = \n"),
            ("b", "[ok]\n"),
            ("c", "[auto]\nalgorithm = \"median\"\n"),
        ])
        .unwrap_err();
        let files: Vec<_> = err.problems.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["a", "b"]);
    }

    #[test]
    fn load_reads_files_in_order() {
        let dir = TempDir::new("load");
        let a = dir.write("a.cfg", "[http]\nlisten = \":1\"\n");
        let b = dir.write("b.cfg", "[http]\nlisten = \":2\"\n");
        assert_eq!(
            load(&[a.clone(), b.clone()]).unwrap().http_listen,
            ListenAddr::Any(2)
        );
        assert_eq!(load(&[b, a]).unwrap().http_listen, ListenAddr::Any(1));
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let dir = TempDir::new("load-errors");
        let bad = dir.write("bad.cfg", "[auto]\nhistory = -3\n");
        let message = load(std::slice::from_ref(&bad)).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}:2: [auto] history: must be from 1 to 10000 (got -3)",
                bad.display()
            )
        );
        let missing = dir.0.join("missing.cfg");
        let message = load(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        let expected = format!("{}: cannot read config file: ", missing.display());
        assert!(message.starts_with(&expected), "{message}");
    }

    #[test]
    fn resolve_files_reads_the_directory_in_name_order() {
        let dir = TempDir::new("resolve");
        let main = dir.write("main.cfg", "");
        let conf_d = dir.0.join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        for name in ["b.cfg", "a.toml", ".hidden", "c"] {
            fs::write(conf_d.join(name), "").unwrap();
        }
        fs::create_dir(conf_d.join("subdir")).unwrap();
        let files = resolve_files(Some(&main), &conf_d).unwrap();
        let expected = vec![
            main,
            conf_d.join("a.toml"),
            conf_d.join("b.cfg"),
            conf_d.join("c"),
        ];
        assert_eq!(files, expected);
    }

    #[test]
    fn resolve_files_skips_a_missing_default_but_not_a_missing_explicit_file() {
        let dir = TempDir::new("resolve-missing");
        let missing = dir.0.join("lovebeat.cfg");
        let no_dir = dir.0.join("conf.d");
        let files = resolve_files_with_default(None, &missing, &no_dir).unwrap();
        assert_eq!(files, Vec::<PathBuf>::new());
        let present = dir.write("present.cfg", "");
        let files = resolve_files_with_default(None, &present, &no_dir).unwrap();
        assert_eq!(files, vec![present]);
        let err = resolve_files_with_default(Some(&missing), &missing, &no_dir).unwrap_err();
        let expected = format!("{}: cannot read config file: ", missing.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn resolve_files_refuses_entries_it_cannot_resolve_naming_each() {
        use std::os::unix::fs::symlink;
        let dir = TempDir::new("resolve-dangling");
        let conf_d = dir.0.join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        fs::write(conf_d.join("a.toml"), "").unwrap();
        symlink(dir.0.join("gone.toml"), conf_d.join("b-tokens.toml")).unwrap();
        symlink(conf_d.join("c-loop"), conf_d.join("c-loop")).unwrap();
        symlink("/dev/null", conf_d.join("d-device")).unwrap();
        let missing = dir.0.join("missing.cfg");
        let err = resolve_files_with_default(None, &missing, &conf_d).unwrap_err();
        let named: Vec<_> = err.problems.iter().map(|p| p.file.clone()).collect();
        let expected: Vec<_> = ["b-tokens.toml", "c-loop", "d-device"]
            .iter()
            .map(|n| conf_d.join(n).display().to_string())
            .collect();
        assert_eq!(named, expected);
        let message = err.to_string();
        assert!(
            message.contains("a symlink to a file that does not exist"),
            "{message}"
        );
        assert!(message.contains("not a regular file"), "{message}");
    }

    #[test]
    fn a_dangling_symlink_as_the_default_main_file_is_an_error() {
        let dir = TempDir::new("resolve-dangling-main");
        let link = dir.0.join("lovebeat.cfg");
        std::os::unix::fs::symlink(dir.0.join("gone.cfg"), &link).unwrap();
        let err = resolve_files_with_default(None, &link, &dir.0.join("conf.d")).unwrap_err();
        let expected = format!("{}: cannot read config file: ", link.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn load_refuses_a_file_larger_than_the_cap() {
        let message = load(&[PathBuf::from("/dev/zero")]).unwrap_err().to_string();
        assert_eq!(
            message,
            "/dev/zero: larger than 4 MiB, the most a config file may be: is this the right file?"
        );
        let dir = TempDir::new("load-large");
        let just_fits = "#".repeat(MAX_FILE_BYTES as usize - 1) + "\n";
        assert!(load(&[dir.write("fits.toml", &just_fits)]).is_ok());
        let one_more = just_fits + "\n";
        assert!(load(&[dir.write("large.toml", &one_more)]).is_err());
    }

    #[test]
    fn resolve_files_rejects_a_config_dir_that_is_a_file() {
        let dir = TempDir::new("resolve-notdir");
        let file = dir.write("file", "");
        let missing = dir.0.join("missing.cfg");
        assert!(resolve_files_with_default(None, &missing, &file).is_err());
    }
}
