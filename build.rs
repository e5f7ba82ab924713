//! Puts the app icon and the version resource into the Windows executable (nothing elsewhere).

fn main() {
    println!("cargo:rerun-if-changed=assets/windows/wochat.rc");
    println!("cargo:rerun-if-changed=assets/icons/wochat.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let numbers: Vec<u16> = version.split(['.', '-']).filter_map(|p| p.parse().ok()).take(3).collect();
    let [major, minor, patch] = [0, 1, 2].map(|i| numbers.get(i).copied().unwrap_or(0));
    let macros =
        [format!("WOCHAT_VERSION_STR=\\\"{version}\\\""), format!("WOCHAT_VERSION_NUM={major},{minor},{patch},0")];
    embed_resource::compile_for("assets/windows/wochat.rc", ["wochat"], &macros).manifest_optional().unwrap_or_else(
        |e| panic!("cannot put the icon and version into wochat.exe: {e} (MinGW's windres is needed: apt-get install mingw-w64)"),
    );
}
