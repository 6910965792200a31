//! Architecture support. Only RISC-V 64 (Sv39) exists; everything that touches a CSR, runs an
//! `ecall` into the firmware or executes hand-written assembly lives below this folder.

pub mod riscv64;
