//! What both benches need: the raw signature check (the floor), keys, and criterion's median.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use portcullis_core::{Algorithm, AlgorithmSet, VerifyingKey};
use portcullis_testkit::TestKey;

/// The algorithms both benches measure.
pub(crate) const ALGS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// Checks a signature over a message.
pub(crate) type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// The floor: aws-lc-rs with the key parsed once, nothing else ([`TestKey::raw_verifier`]).
pub(crate) fn raw_verifier(key: &TestKey) -> RawVerify {
    let raw = key.raw_verifier();
    Box::new(move |m, s| raw.verify(m, s))
}

/// portcullis's verifying key for a test key (its JWK, or its HMAC secret).
pub(crate) fn verifying_key(key: &TestKey) -> VerifyingKey {
    match key.secret() {
        Some(secret) => VerifyingKey::hmac(key.alg(), secret)
            .unwrap()
            .with_kid(key.kid()),
        None => {
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        }
    }
}

/// Where criterion writes (inside the target directory, not the source tree).
pub(crate) fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// Criterion's median, in nanoseconds, of one benchmark measured by this run (estimates left
/// by an earlier run, for a benchmark filtered out now, are ignored).
pub(crate) fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(group.replace('/', "_"))
        .join(function)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Times `cases` interleaved: `rounds` rounds, each timing `per_round` calls of every case in
/// turn (starting with another case each round, so that none always runs first), and gives
/// each case's median over the rounds, in nanoseconds per call. A machine whose speed changes
/// by phases (a shared VM) skews criterion's one-benchmark-after-another ratios; this not.
#[allow(dead_code)] // For the verify and layer benches.
pub(crate) fn interleaved<const N: usize>(
    rounds: usize,
    per_round: usize,
    cases: &mut [&mut dyn FnMut(); N],
) -> [f64; N] {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..rounds {
        for i in 0..N {
            let case = (i + round) % N;
            let start = Instant::now();
            for _ in 0..per_round {
                (cases[case])();
            }
            samples[case].push(start.elapsed().as_secs_f64() * 1e9 / per_round as f64);
        }
    }
    samples.map(|mut s| {
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    })
}
