//! Drops the unwinding tables from the artifact of a build that aborts on a panic, when
//! `TWINSYNC_NO_UNWIND_TABLES=1` asks for it (`scripts/sam-build` and `scripts/cold-start`,
//! which build with `panic = "abort"`; see `no-unwind-tables.ld`). Cargo does not tell a
//! build script the profile's panic strategy, so main.rs refuses to compile when the
//! tables are dropped from a build that unwinds.

fn main() {
    println!("cargo::rerun-if-changed=no-unwind-tables.ld");
    println!("cargo::rerun-if-env-changed=TWINSYNC_NO_UNWIND_TABLES");
    println!("cargo::rustc-check-cfg=cfg(twinsync_no_unwind_tables)");
    let asked = std::env::var("TWINSYNC_NO_UNWIND_TABLES").is_ok_and(|v| v == "1");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if asked && linux {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("no-unwind-tables.ld");
        println!("cargo::rustc-cfg=twinsync_no_unwind_tables");
        println!(
            "cargo::rustc-link-arg-bin=twinsync-functions=-Wl,-T,{}",
            script.display()
        );
    }
}
