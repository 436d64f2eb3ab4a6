use libtest_mimic::Failed;
use serde_json::{json, Value};

use crate::support::{equal, probe};

/// getppid's arguments are ignored by the kernel but seen by the filter: a harmless
/// way to test every comparison. Denials return errno 33.
fn denied(args: Value, call: &[u64]) -> Result<bool, Failed> {
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33, "args": args}]});
    let values: Vec<String> = call.iter().map(u64::to_string).collect();
    let mut argv = vec!["syscall", "getppid"];
    argv.extend(values.iter().map(String::as_str));
    let run = probe(&profile, &argv)?;
    match run.result()? {
        (-1, 33) => Ok(true),
        (r, 0) if r == i64::from(std::process::id()) => Ok(false),
        other => Err(run.describe(&format!("unexpected result {other:?}"))),
    }
}

pub fn each_operator() -> Result<(), Failed> {
    // (operator, value, valueTwo, argument, denied?)
    let cases: [(&str, u64, u64, u64, bool); 17] = [
        ("SCMP_CMP_NE", 5, 0, 4, true),
        ("SCMP_CMP_NE", 5, 0, 5, false),
        ("SCMP_CMP_LT", 5, 0, 4, true),
        ("SCMP_CMP_LT", 5, 0, 5, false),
        ("SCMP_CMP_LE", 5, 0, 5, true),
        ("SCMP_CMP_LE", 5, 0, 6, false),
        ("SCMP_CMP_EQ", 5, 0, 5, true),
        ("SCMP_CMP_EQ", 5, 0, 6, false),
        ("SCMP_CMP_GE", 5, 0, 5, true),
        ("SCMP_CMP_GE", 5, 0, 4, false),
        ("SCMP_CMP_GT", 5, 0, 6, true),
        ("SCMP_CMP_GT", 5, 0, 5, false),
        // value is the mask, valueTwo what the masked argument must equal.
        ("SCMP_CMP_MASKED_EQ", 0xf0, 0x30, 0x35, true),
        ("SCMP_CMP_MASKED_EQ", 0xf0, 0x30, 0x45, false),
        // 64-bit values compare whole, not just their low half.
        ("SCMP_CMP_EQ", 0x1_0000_0005, 0, 0x1_0000_0005, true),
        ("SCMP_CMP_EQ", 0x1_0000_0005, 0, 5, false),
        ("SCMP_CMP_GT", 0xffff_ffff, 0, 0x1_0000_0000, true),
    ];
    for (op, value, two, arg, want) in cases {
        let args = json!([{"index": 1, "value": value, "valueTwo": two, "op": op}]);
        equal(
            denied(args, &[0, arg])?,
            want,
            &format!("{op} value={value:#x} valueTwo={two:#x} arg1={arg:#x}"),
        )?;
    }
    Ok(())
}

pub fn distinct_indexes_and() -> Result<(), Failed> {
    let args = json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]);
    equal(denied(args.clone(), &[1, 2])?, true, "a0=1 and a1=2")?;
    equal(denied(args.clone(), &[1, 3])?, false, "a0=1 but a1=3")?;
    equal(denied(args, &[0, 2])?, false, "a1=2 but a0=0")
}

pub fn repeated_index_or() -> Result<(), Failed> {
    // runc splits conditions on one index into separate rules: either value matches.
    let args = json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]);
    equal(denied(args.clone(), &[1])?, true, "a0=1")?;
    equal(denied(args.clone(), &[2])?, true, "a0=2")?;
    equal(denied(args, &[3])?, false, "a0=3")
}
