//! The binary itself: `--version`, and refusing to start without a JWT secret.

#[test]
fn version_flag_prints_the_version() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_infra-api"))
        .arg("--version")
        .output()
        .expect("run infra-api");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("infra-api {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_secret_is_a_configuration_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_infra-api"))
        .env_remove("MES_JWT_SECRET")
        .env_remove("MES_JWT_SECRET_FILE")
        .output()
        .expect("run infra-api");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MES_JWT_SECRET"));
}
