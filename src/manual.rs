//! The manual: what the README leaves out. Its text is in `docs/manual/` in the repository,
//! one file a section; the README is the front page.
//!
//! | section | what it holds |
//! |---|---|
//! | [`security`] | each threat to a resource server that accepts bearer tokens, how portcullis defends against it, the tests that prove it, and what it does not defend against |
//! | [`defaults`] | each default (verification rules, the layer and its answers, key sources, introspection) and the reason for it |
//! | [`guide`] | the quickstart's options, issuers in code, several issuers, identity providers, the settings in a file, opaque tokens, where tokens are read, certificate-bound tokens (mutual TLS) and where the certificate comes from, DPoP (and from a browser, CORS), per-route rules, step-up, resource metadata, MCP servers, tonic in detail, readiness and metrics, the crates on their own |
//! | [`replicas`] | several replicas as one: the DPoP replay store, the deny list and introspection verdicts shared through Redis, their guarantees, sizing and outage policy |
//! | [`gateway`] | behind nginx / Caddy / Traefik / Envoy: `portcullis gateway` answers their authorization sub-requests with the layer's decisions; the tested proxy configurations; paths compared as the upstream sees them |
//! | [`performance`] | the bench figures, and how they are measured |
//! | [`testing`] | the attack suite, test vectors, property tests, load under faults, fuzzing, CI, the repository's layout, and how to run each |
//! | [`crypto`] | why aws-lc-rs and not jsonwebtoken; the algorithms and keys accepted |
//! | [`cli`] | the `portcullis` command |
//!
//! These modules hold no code; their examples are doctests of this crate.

#[doc = include_str!("../docs/manual/security.md")]
pub mod security {}

#[doc = include_str!("../docs/manual/defaults.md")]
pub mod defaults {}

#[doc = include_str!("../docs/manual/guide.md")]
pub mod guide {}

#[doc = include_str!("../docs/manual/replicas.md")]
pub mod replicas {}

#[doc = include_str!("../docs/manual/gateway.md")]
pub mod gateway {}

#[doc = include_str!("../docs/manual/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/manual/testing.md")]
pub mod testing {}

#[doc = include_str!("../docs/manual/crypto.md")]
pub mod crypto {}

#[doc = include_str!("../docs/manual/cli.md")]
pub mod cli {}
