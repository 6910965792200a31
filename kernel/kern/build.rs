//! Links the kernel at its high-half address and embeds the boot archive.
//!
//! `cargo xtask build` passes the archive it packed in `LATTICE_BOOT_ARCHIVE`. A plain
//! `cargo build -p kernel` (for example under clippy) gets an empty archive instead, so the
//! kernel always builds; it then reports at boot that the root task is missing.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-arg-bins=-T{}", manifest.join("linker.ld").display());
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-env-changed=LATTICE_BOOT_ARCHIVE");

    let archive = match env::var_os("LATTICE_BOOT_ARCHIVE") {
        Some(path) => PathBuf::from(path),
        None => {
            let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
            let path = out.join("empty-boot-archive.bin");
            // Magic, zero entries, total length 16 (see kernel-abi's bootarchive module).
            let mut empty = b"LATBOOT1".to_vec();
            empty.extend_from_slice(&0u32.to_le_bytes());
            empty.extend_from_slice(&16u32.to_le_bytes());
            std::fs::write(&path, empty).expect("write the empty boot archive");
            path
        }
    };
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-env=LATTICE_BOOT_ARCHIVE_PATH={}", archive.display());
}
