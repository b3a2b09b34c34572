//! Request messages built from named arguments, for workflows that chain
//! catalogue operations without depending on generated type names.

use prost_reflect::{DynamicMessage, Kind, Value};

use super::routes::{Route, RouteTable};
use crate::error::GatewayError;

/// One argument value.
#[derive(Clone, Debug)]
pub enum Arg {
    /// A string (ids, names) or an enum's Graph spelling.
    Str(String),
    /// A list of strings or of enum Graph spellings.
    List(Vec<String>),
    /// An integer.
    Int(i64),
}

/// Builds the route's request message; unknown fields or enum spellings are
/// internal errors (a workflow bug, not the caller's).
pub fn build(
    table: &RouteTable,
    route: &Route,
    args: &[(&str, Arg)],
) -> Result<DynamicMessage, GatewayError> {
    let mut msg = DynamicMessage::new(route.input.clone());
    for (name, arg) in args {
        let f = route.input.get_field_by_name(name).ok_or_else(|| {
            GatewayError::Internal(format!("{} has no field {name}", route.input.name()))
        })?;
        let scalar =
            |s: &str| -> Result<Value, GatewayError> {
                Ok(match f.kind() {
                    Kind::Enum(e) => Value::EnumNumber(
                        table
                            .spelling(&e)
                            .and_then(|sp| sp.from_graph(s))
                            .ok_or_else(|| {
                                GatewayError::Internal(format!("{s} is not a {}", e.name()))
                            })?,
                    ),
                    Kind::Int64 => Value::I64(s.parse().map_err(|_| {
                        GatewayError::Internal(format!("{name}: {s} is not a number"))
                    })?),
                    _ => Value::String(s.to_string()),
                })
            };
        let value = match arg {
            Arg::Str(s) => scalar(s)?,
            Arg::List(items) => {
                Value::List(items.iter().map(|s| scalar(s)).collect::<Result<_, _>>()?)
            }
            Arg::Int(n) => match f.kind() {
                Kind::Int32 => Value::I32(
                    i32::try_from(*n)
                        .map_err(|_| GatewayError::Internal(format!("{name} out of range")))?,
                ),
                _ => Value::I64(*n),
            },
        };
        msg.try_set_field(&f, value)
            .map_err(|e| GatewayError::Internal(format!("{name}: {e}")))?;
    }
    Ok(msg)
}
