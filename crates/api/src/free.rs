//! JSON that the API server keeps as written (Helm's `valuesObject`, an
//! ApplicationSet's list elements, an Application's status), read to a
//! bounded depth; and object metadata read without `managedFields`.
//!
//! Why: kube-rs decodes responses with serde_json, which refuses a document
//! nested deeper than 128 levels. The API server stores deeper: one
//! Application whose `valuesObject` nests 300 levels (and the managedFields
//! entry that records who wrote it, as deep) made every list and watch of
//! its namespace fail to decode, for every app of every tenant there.
//! Read here, a value stops at [`MAX_DEPTH`] levels: what lies deeper is
//! skipped (serde_json skips without a depth limit) and the value reads as
//! [`FreeJson::TooDeep`], which fails only the app or set that uses it.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// How many levels of arrays and objects a [`FreeJson`] holds. The typed
/// fields above the deepest such value (a list, an item, `status`,
/// `history`, a source, `helm`) take at most about 15 of serde_json's 128.
pub const MAX_DEPTH: usize = 100;

/// A JSON value of any shape, as written, unless it nests deeper than
/// [`MAX_DEPTH`] levels.
#[derive(Clone, Debug, PartialEq)]
pub enum FreeJson {
    /// The value, whole.
    Read(Value),
    /// Nested deeper than [`MAX_DEPTH`] levels: not read. Writing it back
    /// fails (rather than writing what was not read).
    TooDeep,
}

/// A [`FreeJson::TooDeep`] value, for the error of whoever needed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("nested deeper than {MAX_DEPTH} levels: not read")]
pub struct TooDeep;

impl FreeJson {
    /// The value, or why there is none.
    pub fn value(&self) -> Result<&Value, TooDeep> {
        match self {
            FreeJson::Read(v) => Ok(v),
            FreeJson::TooDeep => Err(TooDeep),
        }
    }
}

impl From<Value> for FreeJson {
    fn from(value: Value) -> Self {
        FreeJson::Read(value)
    }
}

impl Serialize for FreeJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FreeJson::Read(v) => v.serialize(s),
            FreeJson::TooDeep => Err(serde::ser::Error::custom(TooDeep)),
        }
    }
}

impl<'de> Deserialize<'de> for FreeJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Bounded { levels: MAX_DEPTH }.deserialize(d)?.map_or(FreeJson::TooDeep, FreeJson::Read))
    }
}

impl JsonSchema for FreeJson {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FreeJson".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        crate::crd::any_json(generator)
    }
}

/// Reads a value of at most `levels` levels of arrays and objects: `None`
/// when it nests deeper (the rest of it skipped).
struct Bounded {
    levels: usize,
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(inner) = self.levels.checked_sub(1) else { return skip_seq(seq) };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Bounded { levels: inner })? {
            match item {
                Some(v) => out.push(v),
                None => return skip_seq(seq),
            }
        }
        Ok(Some(Value::Array(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(inner) = self.levels.checked_sub(1) else { return skip_map(map) };
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(Bounded { levels: inner })? {
                Some(v) => out.insert(key, v),
                None => return skip_map(map),
            };
        }
        Ok(Some(Value::Object(out)))
    }
}

/// Consumes the rest of a sequence without reading it: serde_json skips a
/// value of any depth without recursing.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Value>, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(None)
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Value>, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(None)
}

/// Reads an optional value as [`Option<T>`], `None` when it does not read
/// as a `T` or nests deeper than [`MAX_DEPTH`]: for data only the
/// controller writes (a status), which it replaces at its next write.
pub fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(match FreeJson::deserialize(d)? {
        FreeJson::Read(v) => Option::<T>::deserialize(v).ok().flatten(),
        FreeJson::TooDeep => None,
    })
}

/// Reads object metadata without `managedFields`: an entry's `fieldsV1`
/// mirrors every field its manager wrote, as deep as the object's deepest
/// value, and nothing of driftless reads them. A write of the object
/// leaves them as they are (they are absent from it, not empty).
pub fn metadata<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    MetadataWithoutManagedFields::deserialize(d)
}

#[derive(Deserialize)]
#[serde(remote = "ObjectMeta", rename_all = "camelCase")]
struct MetadataWithoutManagedFields {
    annotations: Option<std::collections::BTreeMap<String, String>>,
    creation_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip)]
    managed_fields: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}
