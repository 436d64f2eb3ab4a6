//! Validating a raw `linux.seccomp` JSON object with field paths.
//!
//! oci-spec's types reject an unknown action, operator, architecture or flag name as a
//! whole-document serde error. This walks the raw value first so the message names the
//! field and the value ("linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO"),
//! then hands the checked object to oci-spec.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{FilterError, ROOT};
use crate::filter::{compile, Filter};
use crate::operator::MAX_ARGS;

/// Checks every field of a raw `linux.seccomp` object and converts it to oci-spec's type.
pub fn parse(value: &Value) -> Result<LinuxSeccomp, FilterError> {
    let obj = object(value, ROOT)?;
    let default = required(obj, ROOT, "defaultAction")?;
    name::<LinuxSeccompAction>(default, &format!("{ROOT}.defaultAction"), "action")?;
    if let Some(v) = optional(obj, "defaultErrnoRet") {
        unsigned(v, &format!("{ROOT}.defaultErrnoRet"), u64::from(u32::MAX))?;
    }
    if let Some(v) = optional(obj, "architectures") {
        for (i, a) in array(v, &format!("{ROOT}.architectures"))?
            .iter()
            .enumerate()
        {
            name::<Arch>(a, &format!("{ROOT}.architectures[{i}]"), "architecture")?;
        }
    }
    if let Some(v) = optional(obj, "flags") {
        for (i, f) in array(v, &format!("{ROOT}.flags"))?.iter().enumerate() {
            name::<LinuxSeccompFilterFlag>(f, &format!("{ROOT}.flags[{i}]"), "flag")?;
        }
    }
    if let Some(v) = optional(obj, "listenerPath") {
        string(v, &format!("{ROOT}.listenerPath"))?;
    }
    if let Some(v) = optional(obj, "listenerMetadata") {
        string(v, &format!("{ROOT}.listenerMetadata"))?;
    }
    if let Some(v) = optional(obj, "syscalls") {
        for (i, call) in array(v, &format!("{ROOT}.syscalls"))?.iter().enumerate() {
            syscall(call, &format!("{ROOT}.syscalls[{i}]"))?;
        }
    }
    serde_json::from_value(value.clone())
        .map_err(|e| FilterError::invalid(ROOT, format!("not a valid seccomp object: {e}")))
}

/// `parse` then `compile`: one call for a runtime that keeps the raw config around.
pub fn compile_json(value: &Value) -> Result<Filter, FilterError> {
    compile(&parse(value)?)
}

fn syscall(value: &Value, field: &str) -> Result<(), FilterError> {
    let obj = object(value, field)?;
    let names_field = format!("{field}.names");
    let names = array(required(obj, field, "names")?, &names_field)?;
    for (k, n) in names.iter().enumerate() {
        string(n, &format!("{names_field}[{k}]"))?;
    }
    name::<LinuxSeccompAction>(
        required(obj, field, "action")?,
        &format!("{field}.action"),
        "action",
    )?;
    if let Some(v) = optional(obj, "errnoRet") {
        unsigned(v, &format!("{field}.errnoRet"), u64::from(u32::MAX))?;
    }
    if let Some(v) = optional(obj, "args") {
        for (j, arg) in array(v, &format!("{field}.args"))?.iter().enumerate() {
            argument(arg, &format!("{field}.args[{j}]"))?;
        }
    }
    Ok(())
}

fn argument(value: &Value, field: &str) -> Result<(), FilterError> {
    let obj = object(value, field)?;
    unsigned(
        required(obj, field, "index")?,
        &format!("{field}.index"),
        MAX_ARGS as u64 - 1,
    )?;
    unsigned(
        required(obj, field, "value")?,
        &format!("{field}.value"),
        u64::MAX,
    )?;
    if let Some(v) = optional(obj, "valueTwo") {
        unsigned(v, &format!("{field}.valueTwo"), u64::MAX)?;
    }
    name::<LinuxSeccompOperator>(
        required(obj, field, "op")?,
        &format!("{field}.op"),
        "operator",
    )?;
    Ok(())
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, FilterError> {
    value.as_object().ok_or_else(|| {
        FilterError::invalid(field, format!("must be an object, found {}", kind(value)))
    })
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, FilterError> {
    value.as_array().ok_or_else(|| {
        FilterError::invalid(field, format!("must be an array, found {}", kind(value)))
    })
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, FilterError> {
    value.as_str().ok_or_else(|| {
        FilterError::invalid(field, format!("must be a string, found {}", kind(value)))
    })
}

fn unsigned(value: &Value, field: &str, max: u64) -> Result<u64, FilterError> {
    match value.as_u64() {
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(FilterError::invalid(
            field,
            format!("{n} is out of range (0-{max})"),
        )),
        None => Err(FilterError::invalid(
            field,
            format!("must be an integer between 0 and {max}, found {value}"),
        )),
    }
}

/// A present, non-null member: the spec's optional fields may also be written as null.
fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<&'a Value, FilterError> {
    optional(obj, key).ok_or_else(|| FilterError::invalid(format!("{field}.{key}"), "is required"))
}

/// A spec enum name, checked by asking oci-spec's own deserializer so both agree.
fn name<T: DeserializeOwned>(value: &Value, field: &str, what: &str) -> Result<T, FilterError> {
    let s = string(value, field)?;
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| FilterError::invalid(field, format!("unknown {what} {s}")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn unknown_action_names_the_field() {
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_FOO"}]});
        assert_eq!(
            err(v),
            "linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_NOPE"})),
            "linux.seccomp.defaultAction: unknown action SCMP_ACT_NOPE"
        );
    }

    #[test]
    fn unknown_operator_arch_and_flag_name_the_field() {
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]});
        assert_eq!(
            err(v),
            "linux.seccomp.syscalls[0].args[1].op: unknown operator SCMP_CMP_ALMOST"
        );
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]});
        assert_eq!(
            err(v),
            "linux.seccomp.architectures[1]: unknown architecture SCMP_ARCH_Z80"
        );
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]});
        assert_eq!(
            err(v),
            "linux.seccomp.flags[0]: unknown flag SECCOMP_FILTER_FLAG_FAST"
        );
    }

    #[test]
    fn shapes_and_ranges_name_the_field() {
        assert_eq!(err(json!({})), "linux.seccomp.defaultAction: is required");
        assert_eq!(
            err(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_LOG"}]})
            ),
            "linux.seccomp.syscalls[0].names: is required"
        );
        assert_eq!(
            err(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "getpid", "action": "SCMP_ACT_LOG"}]})
            ),
            "linux.seccomp.syscalls[0].names: must be an array, found a string"
        );
        assert_eq!(
            err(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_LOG",
                "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]})
            ),
            "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0-5)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_LOG",
                "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]})),
            "linux.seccomp.syscalls[0].args[0].value: must be an integer between 0 and 18446744073709551615, found -1"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "EPERM"})),
            "linux.seccomp.defaultErrnoRet: must be an integer between 0 and 4294967295, found \"EPERM\""
        );
    }

    #[test]
    fn every_valid_field_round_trips_through_oci_spec() {
        let v = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "MKNOD=/dev/null",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                 "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"},
                          {"index": 1, "value": 18446744073709551615u64, "op": "SCMP_CMP_NE"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}
            ]
        });
        let parsed = parse(&v).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), v);
    }

    #[test]
    fn nulls_count_as_absent() {
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": null, "flags": null});
        parse(&v).unwrap();
    }
}
