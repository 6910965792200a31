//! The Lattice policy language: rhai policy scripts compiled to decision tables.
//!
//! Two layers (DESIGN.md §5):
//! - the **model** ([`Policy`], [`Label`], [`Rights`], [`Scope`], [`Policy::decide`],
//!   [`diff`]): the compiled policy as plain data, its postcard encoding and content hash,
//!   and the decision, which is table lookups; no script runs here. `no_std` + `alloc`,
//!   always built.
//! - the **compiler** ([`compile`], feature `compiler`): runs a rhai script once, under
//!   limits, and checks what it declared; every error has a line and column. Also
//!   `no_std` + `alloc`, so the security server compiles policies itself.
//!
//! The feature `host` (the default) adds [`host`]: the checker summary and the dry-run
//! report printed by `cargo xtask policy`.
//!
//! [`Rights`], [`Scope`] and the scope's parts are the `grant` crate's, re-exported here:
//! they travel on the wire, so programs that only send or check them link `grant`, not
//! this crate (with rhai).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "host")]
extern crate std;

#[cfg(feature = "compiler")]
pub mod compiler;
pub mod decide;
pub mod diff;
#[cfg(feature = "host")]
pub mod host;
pub mod label;
pub mod policy;

/// The grant types, under the names they had when they lived here.
pub use grant::{rights, scope};

#[cfg(feature = "compiler")]
pub use compiler::{CompileErrors, Compiled, Diagnostic, DiagnosticKind, Limits, compile, compile_with};
pub use decide::{Allowed, Client, Decision, DenyReason};
pub use grant::{
    ConsoleOp, Destination, FsOp, FsPath, Ipv4Net, MAX_MEMORY, MAX_PATH_LEN, MergeError, PortRange,
    ProgramPattern, Rights, RightsError, Scope, ScopeError, ScopeItem, ServiceKind, Subtree, format_memory,
    parse_memory,
};
pub use label::{Categories, Label, Level};
pub use policy::{
    Declassification, DeclassificationId, FORMAT_VERSION, Grant, GrantId, LabelError, LabelSource, Labelling,
    LoadError, ParentRule, Policy, Program, ProgramId, Service, ServiceId, SourcePos, Tables,
};
