//! JSON object readers that refuse duplicate member names, at every depth, without building
//! a `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A member name: borrowed from the input when it has no escapes, decoded otherwise, so
/// `"ex\u0070"` and `"exp"` compare equal.
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A string value, borrowed when possible.
pub(crate) struct Str<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Name::deserialize(deserializer).map(|n| Str(n.0))
    }
}

/// Records member names and says whether one repeats. Objects are small (a token has tens
/// of members), so a linear scan beats hashing.
#[derive(Default)]
pub(crate) struct Seen<'de> {
    names: Vec<Cow<'de, str>>,
    pub(crate) duplicate: bool,
}

impl<'de> Seen<'de> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Seen {
            names: Vec::with_capacity(n),
            duplicate: false,
        }
    }

    /// Records `name`; returns `false` (and remembers it) when it was seen before.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.names.contains(&name) {
            self.duplicate = true;
            return false;
        }
        self.names.push(name);
        true
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// Walks any JSON value and reports whether some object in it repeats a member name.
pub(crate) struct NoDuplicates;

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    /// `true` when no object repeats a name.
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut ok = true;
        while let Some(item_ok) = seq.next_element_seed(NoDuplicates)? {
            ok &= item_ok;
        }
        Ok(ok)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = Seen::with_capacity(8);
        let mut ok = true;
        while let Some(Name(name)) = map.next_key()? {
            ok &= seen.insert(name);
            ok &= map.next_value_seed(NoDuplicates)?;
        }
        Ok(ok)
    }
}

/// Skips a value, checking nested objects for duplicates only when there can be any.
pub(crate) fn skip_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<bool, A::Error> {
    map.next_value_seed(NoDuplicates)
}

/// Skips a value without looking inside.
pub(crate) fn ignore_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}
