//! Token verification for tollgate: compact-JWS parsing, verification keys, algorithms,
//! claims validation, scope requirements and the error taxonomy. No network, no I/O.

pub mod alg;

pub use alg::{Algorithm, AlgorithmSet, Family};
