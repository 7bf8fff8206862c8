//! The public API, as rustdoc documents it with every feature on, must match
//! `tests/public-api.txt`: a change to the library's surface is then a
//! visible diff, made on purpose (`scripts/bless-public-api.sh` rewrites the
//! file).
//!
//! The list is read from `cargo doc`'s HTML: every item of `all.html`, and
//! on each item's page the members rustdoc anchors (methods, trait methods,
//! fields, variants, associated items) up to the auto-trait and blanket
//! implementations, which depend on other crates. It sees names, not
//! signatures: a changed argument type goes unnoticed, a renamed, added or
//! removed item or member does not. (The signature-level tools, the
//! `public-api` crate and `cargo semver-checks`, need rustdoc's JSON output,
//! which stable toolchains do not offer.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set to rewrite the snapshot instead of comparing with it.
const BLESS: &str = "CONVO_BLESS_PUBLIC_API";

/// The anchors of an item's members on its page.
const MEMBER_ANCHORS: [&str; 6] = [
    "method.",
    "tymethod.",
    "structfield.",
    "variant.",
    "associatedconstant.",
    "associatedtype.",
];

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The `href` and text of every `<a href="…">…</a>` in `html`.
fn links(html: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a href=\"") {
        rest = &rest[start + 9..];
        let Some(href_end) = rest.find('"') else {
            break;
        };
        let href = &rest[..href_end];
        let Some(text_start) = rest.find('>') else {
            break;
        };
        let Some(text_end) = rest.find("</a>") else {
            break;
        };
        if text_start < text_end {
            found.push((href, &rest[text_start + 1..text_end]));
        }
        rest = &rest[text_end..];
    }
    found
}

/// The member anchors (`method.with_client`…) of an item page, up to the
/// auto-trait and blanket implementations.
fn members(page: &str) -> Vec<String> {
    let own = page
        .split("<h2 id=\"synthetic-implementations\"")
        .next()
        .unwrap_or(page);
    let mut found: Vec<String> = own
        .split("id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|id| MEMBER_ANCHORS.iter().any(|a| id.starts_with(a)))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The API listing: `<kind> <path>` per item, then `    <member>` lines.
fn listing(doc: &Path) -> String {
    let all = std::fs::read_to_string(doc.join("all.html")).expect("read all.html");
    let mut out = String::new();
    for section in all.split("<h3 id=\"").skip(1) {
        let Some((kind, body)) = section.split_once('"') else {
            continue;
        };
        let body = body.split("</ul>").next().unwrap_or(body);
        for (href, path) in links(body) {
            out.push_str(&format!("{kind} {path}\n"));
            let page = std::fs::read_to_string(doc.join(href))
                .unwrap_or_else(|e| panic!("read {href}: {e}"));
            for member in members(&page) {
                out.push_str(&format!("    {member}\n"));
            }
        }
    }
    out
}

#[test]
fn the_public_api_matches_its_snapshot() {
    let target = target_dir();
    let status = Command::new(env!("CARGO"))
        .args([
            "doc",
            "-q",
            "-p",
            "convo-core",
            "--all-features",
            "--no-deps",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo doc");
    assert!(status.success(), "cargo doc failed");

    let actual = listing(&target.join("doc/convo_core"));

    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt");
    if std::env::var_os(BLESS).is_some() {
        std::fs::write(&snapshot, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if actual != expected {
        let added: Vec<&str> = actual.lines().filter(|l| !expected.contains(l)).collect();
        let removed: Vec<&str> = expected.lines().filter(|l| !actual.contains(l)).collect();
        panic!(
            "convo-core's public API changed. If on purpose, run scripts/bless-public-api.sh \
             and commit tests/public-api.txt.\nnew lines: {added:#?}\ngone lines: {removed:#?}"
        );
    }
}
