//! The fleet keys as written (`batch`, `max_fail`, `min_healthy`: a number of hosts or a
//! percentage such as "10%"). Their bounds are `validate/fleet.rs`'s job.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

/// A number of hosts, or a percentage of them as a string ("25%").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawCount {
    Number(i64),
    Text(String),
}

impl JsonSchema for RawCount {
    fn schema_name() -> Cow<'static, str> {
        "HostCount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]{1,3}%$" }
            ],
            "description": "A number of hosts, or a percentage of the host list such as \"10%\"."
        })
    }
}
