//! Serde helpers for typed config values. Their errors are raised while the value is being
//! deserialized, so toml attaches the value's span and the loader names the key and line.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, Visitor};

// ----- durations ------------------------------------------------------------------------

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a duration string such as "30s", "5m" or "1h 30m""#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let d = humantime::parse_duration(v.trim()).map_err(|e| {
            E::custom(format!(
                r#"invalid duration "{v}": {e}; write e.g. "500ms", "30s", "5m", "1h 30m""#
            ))
        })?;
        if d.is_zero() {
            return Err(E::custom(format!(
                r#"invalid duration "{v}": must be greater than 0"#
            )));
        }
        Ok(d)
    }
}

/// A non-zero duration written as a humantime string ("30s", "5m").
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_str(DurationVisitor)
}

pub(crate) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

// ----- integers in a range --------------------------------------------------------------

struct IntVisitor<T> {
    min: i64,
    max: i64,
    _t: PhantomData<T>,
}

impl<T: TryFrom<i64>> Visitor<'_> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer in {}..={}", self.min, self.max)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < self.min || v > self.max {
            return Err(E::custom(format!(
                "{v} is out of range: expected an integer in {}..={}",
                self.min, self.max
            )));
        }
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::custom(format!(
                "{v} is out of range: expected an integer in {}..={}",
                self.min, self.max
            ))),
        }
    }
}

/// An integer in `MIN..=MAX`, e.g. `deserialize_with = "de::int_in::<_, u16, 1, 65535>"`.
pub(crate) fn int_in<'de, D, T, const MIN: i64, const MAX: i64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    d.deserialize_i64(IntVisitor {
        min: MIN,
        max: MAX,
        _t: PhantomData,
    })
}

pub(crate) fn opt_int_in<'de, D, T, const MIN: i64, const MAX: i64>(
    d: D,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    int_in::<D, T, MIN, MAX>(d).map(Some)
}

// ----- strings and paths ----------------------------------------------------------------

struct StrVisitor {
    what: &'static str,
}

impl Visitor<'_> for StrVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

/// An optional string where `""` means "not set" (the keys documented with `""` defaults).
pub(crate) fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = d.deserialize_str(StrVisitor { what: "a string" })?;
    Ok(if s.is_empty() { None } else { Some(s) })
}

/// A string that must not be empty (leave the key out instead).
pub(crate) fn nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = d.deserialize_str(StrVisitor {
        what: "a non-empty string",
    })?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

pub(crate) fn opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    nonempty(d).map(Some)
}

/// A file path that must not be empty. (Relative paths are resolved against the directory
/// of the configuration file after loading.)
pub(crate) fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let s = d.deserialize_str(StrVisitor {
        what: "a file path",
    })?;
    if s.trim().is_empty() {
        return Err(de::Error::custom(
            "must not be empty (leave the key out instead)",
        ));
    }
    Ok(PathBuf::from(s))
}

pub(crate) fn opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    path(d).map(Some)
}
