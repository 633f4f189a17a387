//! JWS signature algorithms (RFC 7518 section 3, RFC 8037) and sets of them.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm that portcullis can verify.
///
/// The names are matched case-sensitively against the JOSE registry: `RS256` is an
/// algorithm, `rs256` is not. `none` is not an algorithm here and can never be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA, the polymorphic name RFC 9864 deprecates; portcullis binds it to Ed25519 keys.
    EdDSA,
    /// EdDSA on Ed25519 (RFC 9864's fully specified name): the same signature as `EdDSA` with
    /// an Ed25519 key.
    Ed25519,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// A shared secret (`kty: oct`).
    Hmac,
    /// An RSA public key (`kty: RSA`), PKCS#1 v1.5 or PSS.
    Rsa,
    /// An elliptic-curve public key (`kty: EC`).
    Ec,
    /// An Edwards-curve public key (`kty: OKP`).
    Okp,
}

impl Algorithm {
    /// Every algorithm, in registry order.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// The JOSE name, as it appears in a JWS header.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// Looks up a JOSE name, case-sensitively. `none` and unknown names give `None`.
    #[must_use]
    pub fn from_jose(name: &str) -> Option<Self> {
        Some(match name {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "ES512" => Algorithm::ES512,
            "EdDSA" => Algorithm::EdDSA,
            "Ed25519" => Algorithm::Ed25519,
            _ => return None,
        })
    }

    /// The kind of key this algorithm verifies with.
    #[must_use]
    pub const fn family(self) -> Family {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => Family::Ec,
            Algorithm::EdDSA | Algorithm::Ed25519 => Family::Okp,
        }
    }

    /// `true` for the symmetric (shared-secret) algorithms HS256/384/512.
    #[must_use]
    pub const fn is_symmetric(self) -> bool {
        matches!(self.family(), Family::Hmac)
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an algorithm name that is not in portcullis's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(());

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown or unsupported JWS algorithm name")
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_jose(s).ok_or(UnknownAlgorithm(()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Algorithm::from_jose(&name).ok_or_else(|| {
            serde::de::Error::custom(format_args!("unsupported JWS algorithm `{name}`"))
        })
    }
}

/// A set of algorithms, as a bitset: copying and testing membership cost nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set.
    pub const EMPTY: AlgorithmSet = AlgorithmSet(0);

    /// The asymmetric algorithms: RS*, PS*, ES*, EdDSA and Ed25519. This is the default
    /// allowlist.
    pub const ASYMMETRIC: AlgorithmSet = AlgorithmSet::from_slice(&[
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ]);

    /// The two names of EdDSA on Ed25519: `EdDSA` and RFC 9864's `Ed25519`.
    pub const ED25519: AlgorithmSet =
        AlgorithmSet::from_slice(&[Algorithm::EdDSA, Algorithm::Ed25519]);

    /// Every algorithm portcullis knows.
    pub const ALL: AlgorithmSet = AlgorithmSet::from_slice(&Algorithm::ALL);

    /// The set holding the given algorithms.
    #[must_use]
    pub const fn from_slice(algs: &[Algorithm]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < algs.len() {
            // In bounds: `i < algs.len()`; `get` is not usable in a const fn loop.
            #[allow(clippy::indexing_slicing)]
            let alg = algs[i];
            bits |= alg.bit();
            i += 1;
        }
        AlgorithmSet(bits)
    }

    /// The set holding one algorithm.
    #[must_use]
    pub const fn only(alg: Algorithm) -> Self {
        AlgorithmSet(alg.bit())
    }

    /// Whether `alg` is in the set.
    #[must_use]
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// The algorithms in both sets.
    #[must_use]
    pub const fn intersection(self, other: AlgorithmSet) -> Self {
        AlgorithmSet(self.0 & other.0)
    }

    /// The algorithms in either set.
    #[must_use]
    pub const fn union(self, other: AlgorithmSet) -> Self {
        AlgorithmSet(self.0 | other.0)
    }

    /// Adds one algorithm.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any symmetric (HS*) algorithm is in the set.
    #[must_use]
    pub const fn has_symmetric(self) -> bool {
        self.0 & (Algorithm::HS256.bit() | Algorithm::HS384.bit() | Algorithm::HS512.bit()) != 0
    }

    /// The algorithms in the set, in registry order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }

    /// The number of algorithms in the set.
    #[must_use]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgorithmSet::EMPTY;
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_jose(alg.as_str()), Some(alg));
            assert_eq!(Algorithm::from_jose(&alg.as_str().to_lowercase()), None);
        }
        for none in ["none", "None", "NONE", "nOnE", ""] {
            assert_eq!(Algorithm::from_jose(none), None);
        }
    }

    #[test]
    fn sets_hold_what_was_put_in() {
        let set = AlgorithmSet::from_slice(&[Algorithm::RS256, Algorithm::EdDSA]);
        assert!(set.contains(Algorithm::RS256));
        assert!(!set.contains(Algorithm::RS384));
        assert_eq!(set.len(), 2);
        assert!(!AlgorithmSet::ASYMMETRIC.has_symmetric());
        assert!(AlgorithmSet::ALL.has_symmetric());
        assert_eq!(AlgorithmSet::ALL.iter().count(), 14);
        assert_eq!(AlgorithmSet::ED25519.len(), 2);
        assert!(AlgorithmSet::ASYMMETRIC.contains(Algorithm::Ed25519));
        assert_eq!(Algorithm::from_jose("Ed25519"), Some(Algorithm::Ed25519));
        assert_eq!(Algorithm::Ed25519.family(), Family::Okp);
    }
}
