//! Configuration files as operators have them: `--config-dir` entries
//! that cannot be read, a main file that never ends, and Go lovebeat's
//! own config forms (reference §4.1, §5.3, §11 and the seed documents)
//! starting the real binary.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

/// Runs the binary in `dir` with `args` as `user` (None: as the test
/// runs) and returns its exit status and stderr; it must exit by itself within the
/// deadline (a daemon that starts instead is killed and reported).
fn run_to_exit(user: Option<u32>, dir: &Path, args: &[&str]) -> (i32, String) {
    let mut command = match user {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            let id = uid.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"]);
            c.arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    let mut child = command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lovebeat runs");
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("lovebeat to exit", || child.try_wait().unwrap())
    }));
    let Ok(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("lovebeat did not exit");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), err)
}

/// The arguments for a main file and a config directory.
fn config_args<'a>(main: &'a Path, dir: &'a Path) -> [&'a str; 4] {
    [
        "--config",
        main.to_str().unwrap(),
        "--config-dir",
        dir.to_str().unwrap(),
    ]
}

#[test]
fn a_dangling_symlink_in_the_config_dir_stops_the_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("lovebeat.toml");
    std::fs::write(&main, LISTEN).unwrap();
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(conf_d.join("10-views.toml"), "").unwrap();
    let link = conf_d.join("20-tokens.toml");
    symlink(tmp.path().join("moved-away.toml"), &link).unwrap();
    let (code, err) = run_to_exit(None, tmp.path(), &config_args(&main, &conf_d));
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "{}: cannot read config file: a symlink to a file that does not exist",
        link.display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_symlink_into_a_directory_lovebeat_may_not_read_stops_the_start_naming_it() {
    if !have("setpriv") {
        eprintln!("skipped: no setpriv to run lovebeat as another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let main = tmp.path().join("lovebeat.toml");
    std::fs::write(&main, LISTEN).unwrap();
    let secret = tmp.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("tokens.toml"), "[http]\nwrite_tokens = []\n").unwrap();
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o700)).unwrap();
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let link = conf_d.join("tokens.toml");
    symlink(secret.join("tokens.toml"), &link).unwrap();
    let nobody = 65534;
    let (code, err) = run_to_exit(Some(nobody), tmp.path(), &config_args(&main, &conf_d));
    assert_eq!(code, 2, "{err}");
    let expected = format!("{}: cannot read config file: ", link.display());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn a_config_file_that_never_ends_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = run_to_exit(
        None,
        tmp.path(),
        &config_args(Path::new("/dev/zero"), tmp.path()),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/zero: larger than 4 MiB, the most a config file may be"),
        "{err}"
    );
}
