//! Argument comparisons: OCI operators to libseccomp conditions, and runc's rule grouping.

use libseccomp::{ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::{LinuxSeccompArg, LinuxSeccompOperator};

use crate::error::FilterError;

/// Linux system calls take at most six arguments.
pub const MAX_ARGS: usize = 6;

/// Every operator the runtime-spec defines, in the sorted order runc's `features` prints.
pub const ALL: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
    LinuxSeccompOperator::ScmpCmpNe,
];

/// One condition. For MASKED_EQ, `value` is the mask and `valueTwo` the value the masked
/// argument must equal (libseccomp's datum_a/datum_b, which runc passes through unchanged);
/// the other operators compare against `value` and ignore `valueTwo`.
pub(crate) fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, FilterError> {
    let index = arg.index();
    if index >= MAX_ARGS {
        return Err(FilterError::invalid(
            format!("{field}.index"),
            format!("{index} is out of range (0-{})", MAX_ARGS - 1),
        ));
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    // index < MAX_ARGS was checked above, so the cast cannot truncate.
    Ok(ScmpArgCompare::new(index as u32, op, datum))
}

/// Groups a syscall's conditions into rules the way runc does.
///
/// libseccomp ANDs the conditions of one rule but refuses two conditions on the same
/// argument in one rule. So when the args name distinct indexes they form one rule
/// (all must hold); when any index repeats, every condition becomes a rule of its own
/// (any one suffices), which is what runc 1.1 does.
pub(crate) fn rules(
    args: &[LinuxSeccompArg],
    field: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, FilterError> {
    let mut counts = [0usize; MAX_ARGS];
    let mut conditions = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        let cond = condition(arg, &format!("{field}.args[{j}]"))?;
        counts[arg.index()] += 1;
        conditions.push(cond);
    }
    if conditions.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    if counts.iter().any(|&c| c > 1) {
        Ok(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conditions])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompArgBuilder;

    fn arg(
        index: usize,
        op: LinuxSeccompOperator,
        value: u64,
        two: Option<u64>,
    ) -> LinuxSeccompArg {
        let b = LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value);
        match two {
            Some(t) => b.value_two(t).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    #[test]
    fn distinct_indexes_make_one_rule() {
        let args = [
            arg(0, LinuxSeccompOperator::ScmpCmpEq, 1, None),
            arg(2, LinuxSeccompOperator::ScmpCmpNe, 9, None),
        ];
        let r = rules(&args, "s").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].len(), 2);
    }

    #[test]
    fn repeated_index_splits_every_condition() {
        let args = [
            arg(0, LinuxSeccompOperator::ScmpCmpEq, 1, None),
            arg(0, LinuxSeccompOperator::ScmpCmpEq, 2, None),
            arg(1, LinuxSeccompOperator::ScmpCmpGt, 3, None),
        ];
        let r = rules(&args, "s").unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|rule| rule.len() == 1));
    }

    #[test]
    fn no_args_is_one_unconditional_rule() {
        let r = rules(&[], "s").unwrap();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_empty());
    }

    #[test]
    fn index_out_of_range_names_the_field() {
        let args = [
            arg(0, LinuxSeccompOperator::ScmpCmpEq, 1, None),
            arg(6, LinuxSeccompOperator::ScmpCmpEq, 1, None),
        ];
        let err = rules(&args, "linux.seccomp.syscalls[4]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.seccomp.syscalls[4].args[1].index: 6 is out of range (0-5)"
        );
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        let c = condition(
            &arg(1, LinuxSeccompOperator::ScmpCmpMaskedEq, 0xf0, Some(0x30)),
            "a",
        )
        .unwrap();
        let expected = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xf0), 0x30);
        assert_eq!(format!("{c:?}"), format!("{expected:?}"));
    }

    #[test]
    fn all_lists_seven_sorted_names() {
        let names: Vec<String> = ALL.iter().map(crate::error::spec_name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.contains(&"SCMP_CMP_MASKED_EQ".to_string()));
    }
}
