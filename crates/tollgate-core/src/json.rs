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
/// of members), so a linear scan beats hashing. Names without escapes are borrowed from the
/// input and the first ones live inline, so that the common object costs no allocation.
pub(crate) struct Seen<'de> {
    inline: [&'de str; INLINE_NAMES],
    len: usize,
    /// Names past the inline ones, and names that had escapes (decoded).
    spill: Vec<Cow<'de, str>>,
    pub(crate) duplicate: bool,
}

const INLINE_NAMES: usize = 12;

impl<'de> Seen<'de> {
    pub(crate) fn new() -> Self {
        Seen {
            inline: [""; INLINE_NAMES],
            len: 0,
            spill: Vec::new(),
            duplicate: false,
        }
    }

    /// Records `name`; returns `false` (and remembers it) when it was seen before.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.contains(&name) {
            self.duplicate = true;
            return false;
        }
        match (name, self.inline.get_mut(self.len)) {
            (Cow::Borrowed(name), Some(slot)) => {
                *slot = name;
                self.len += 1;
            }
            (name, _) => self.spill.push(name),
        }
        true
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.inline.iter().take(self.len).any(|n| *n == name)
            || self.spill.iter().any(|n| n == name)
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
        let mut seen = Seen::new();
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
