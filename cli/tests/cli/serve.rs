//! `tokenlife serve`: where it refuses to listen, and the flags its help documents.

use crate::{stderr, stdout, tokenlife};

#[test]
fn serve_refuses_addresses_off_loopback_without_the_flag_and_with_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "[[clients]]\nid = \"app\"\nsecret = \"s3cret-value\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    for (args, names) in [
        (vec!["--bind", "0.0.0.0:0"], "--config"),
        (vec!["--bind", "0.0.0.0:0", "--allow-remote"], "--config"),
        (
            vec!["--bind", "0.0.0.0:0", "--config", &config],
            "--allow-remote",
        ),
        (
            vec![
                "--bind",
                "[::]:0",
                "--config",
                &config,
                "--allow-remote",
                "--test-clock",
            ],
            "--test-clock",
        ),
    ] {
        let mut all = vec!["serve", "--database", &db];
        all.extend(args.iter().copied());
        let o = tokenlife(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(names), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).contains("demo-secret"), "{args:?}");
    }
}

#[test]
fn serve_help_documents_the_limits_and_the_remote_flag() {
    let o = tokenlife(&["serve", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for flag in [
        "--allow-remote",
        "--header-timeout",
        "--body-timeout",
        "--idle-timeout",
        "--max-connections",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}
