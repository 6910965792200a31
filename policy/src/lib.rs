//! The Lattice policy language (work in progress: see issue 5).
#![no_std]
#![forbid(unsafe_code)]
