//! Records the git commit the binary is built from, for `--version`:
//! `SCF_BRIDGE_GIT_COMMIT` from the environment when set (the container
//! build passes it, having no `.git`), else `git rev-parse HEAD` of the
//! checkout, else `unknown` (a source tarball, no git installed).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SCF_BRIDGE_GIT_COMMIT");
    let from_env = std::env::var("SCF_BRIDGE_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty());
    let commit = from_env.or_else(|| {
        // Rebuild when HEAD moves: HEAD itself, the branch it names, packed refs.
        let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git(&["rev-parse", "--git-path", &branch]));
        }
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
        for path in watched.into_iter().flatten() {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    let commit: String = commit
        .unwrap_or_else(|| "unknown".to_owned())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(40)
        .collect();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=SCF_BRIDGE_GIT_COMMIT={commit}");
}
