//! `scf-bridge check-config` runs every check `serve` makes before taking a
//! port: each configuration `serve` refuses is refused here too (exit 2,
//! one line naming the key), and `--help` points at the environment and
//! the docs.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_what_serve_would_refuse_and_serve_agrees() {
    let dir = std::env::temp_dir().join(format!("scf-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = garbage.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("SCF_BRIDGE__AUTH__MODE", "verify"),
                ("SCF_BRIDGE__AUTH__CLIENTS_DIR", "/nonexistent/clients"),
            ],
            "auth.clients",
        ),
        (
            vec![
                ("SCF_BRIDGE__SERVER__TLS_LISTEN", "127.0.0.1:0"),
                ("SCF_BRIDGE__SERVER__TLS_CERT", &garbage),
                ("SCF_BRIDGE__SERVER__TLS_KEY", &garbage),
            ],
            "server.tls_cert",
        ),
        (
            vec![("SCF_BRIDGE__UPSTREAM__CA_FILE", "/nonexistent/ca.pem")],
            "upstream.ca_file",
        ),
        (
            vec![(
                "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                "https://scf.tencentcloudapi.com",
            )],
            "TENCENTCLOUD_SECRET_ID",
        ),
        (
            vec![("SCF_BRIDGE__ADMIN__LISTEN", "127.0.0.1:8080")],
            "admin.listen",
        ),
    ];
    for (env, needle) in cases {
        let mut env = env.clone();
        env.push(("SCF_BRIDGE__SERVER__LISTEN", "127.0.0.1:8080"));
        let (code, _, err) = run(&["check-config"], &env);
        assert_eq!(code, 2, "{env:?}: {err}");
        assert!(err.contains(needle), "{env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        // serve refuses the same configuration before taking a port.
        let (code, _, serve_err) = run(&["serve"], &env);
        assert_ne!(code, 0, "{env:?}");
        assert!(serve_err.contains(needle), "{env:?}: {serve_err}");
    }
    let (code, out, err) = run(&["check-config"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[server]"));
    // The access-log buffer's settings, off by default.
    assert!(out.contains("access_buffer_bytes = 0\n"), "{out}");
    assert!(out.contains("access_flush_ms = 1000\n"), "{out}");
    assert!(err.contains("configuration is valid"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_mentions_the_environment_and_the_docs() {
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("SCF_BRIDGE__<SECTION>__<KEY>"), "{out}");
    assert!(out.contains("SCF_BRIDGE__AUTH__SIGNING_HOSTS=a,b"), "{out}");
    assert!(out.contains("TENCENTCLOUD_SECRET_ID"), "{out}");
    assert!(out.contains("docs/operations.md"), "{out}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let (code, out, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    let expected = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        out.trim(),
        format!(
            "scf-bridge {} (commit {expected})",
            env!("CARGO_PKG_VERSION")
        )
    );
}
