//! The config loader: any text as one or several config files, through
//! TOML, the raw layer, merging and validation.
//!
//! Through `lovebeat_config::from_strs`, as the daemon loads files.
//! Input: files separated by `\0`. Checks: nothing panics; a refused
//! config names at least one problem, each one line, and a line number
//! within its file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let names = ["a.toml", "b.toml", "c.toml", "d.toml"];
    let files: Vec<(&str, &str)> = names.iter().copied().zip(text.split('\0')).collect();
    if let Err(error) = lovebeat_config::from_strs(&files) {
        let message = error.to_string();
        assert!(!message.is_empty());
        for line in message.lines() {
            let (file, rest) = line.split_once(':').expect("FILE: first");
            let text = files.iter().find(|(n, _)| *n == file).expect("a known file").1;
            let number = rest.split(':').next().and_then(|n| n.parse::<usize>().ok());
            if let Some(number) = number {
                assert!(number >= 1 && number <= text.lines().count().max(1) + 1, "{line}");
            }
        }
    }
});
