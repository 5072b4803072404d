//! Numbers of a results.csv as the report has always read them: an empty field is unknown — NaN
//! for a real, 0 for a count — as in the columns a newer ddbench appended, which bench leaves
//! empty in its older rows.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::str::FromStr;

/// A field as the format gives it: text (CSV) or a number (self-describing formats).
enum Field {
    Text(String),
    Real(f64),
    Int(i128),
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or an empty field")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        Ok(Field::Real(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Field, E> {
        Ok(Field::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Field, E> {
        Ok(i128::try_from(v).map_or(Field::Text(v.to_string()), Field::Int))
    }
}

/// A real number; an empty field is NaN.
pub fn real<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match d.deserialize_any(FieldVisitor)? {
        Field::Real(v) => Ok(v),
        Field::Int(v) => Ok(v as f64),
        Field::Text(s) if s.is_empty() => Ok(f64::NAN),
        Field::Text(s) => s
            .parse()
            .map_err(|_| de::Error::custom(format!("'{s}' is not a number"))),
    }
}

/// A count (or any integer); an empty field is 0.
pub fn count<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Default,
{
    let text = match d.deserialize_any(FieldVisitor)? {
        Field::Text(s) if s.is_empty() => return Ok(T::default()),
        Field::Text(s) => s,
        Field::Int(v) => v.to_string(),
        Field::Real(v) => v.to_string(),
    };
    text.parse()
        .map_err(|_| de::Error::custom(format!("'{text}' is not a whole number")))
}
