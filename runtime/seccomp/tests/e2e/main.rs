//! End-to-end: filters loaded into a real process (the probe) and what the kernel then does.
//! Features this host lacks report "SKIPPED: <reason>" as ignored, never as passed.

mod actions;
mod arch;
mod args;
mod docker;
mod enosys;
mod flags;
mod notify;
mod privileges;
mod support;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

fn test(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    Trial::test(name, f)
}

fn skippable(name: &str, f: fn() -> Result<Completion, Failed>) -> Trial {
    Trial::ignorable_test(name, f)
}

/// A runtime skip with its reason, in the form the test output shows.
pub fn skipped(reason: impl std::fmt::Display) -> Result<Completion, Failed> {
    Ok(Completion::ignored_with(format!("SKIPPED: {reason}")))
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        test(
            "action_errno_returns_errno_ret",
            actions::errno_returns_errno_ret,
        ),
        test("action_errno_default_errno_ret", actions::default_errno_ret),
        test(
            "action_kill_process_kills_with_sigsys",
            actions::kill_process,
        ),
        test(
            "action_kill_thread_spares_the_other_threads",
            actions::kill_thread,
        ),
        test("action_trap_raises_a_catchable_sigsys", actions::trap),
        test(
            "action_trace_without_tracer_is_enosys",
            actions::trace_without_tracer,
        ),
        test(
            "action_trace_hands_errno_ret_to_the_tracer",
            actions::trace_value,
        ),
        test(
            "action_allow_under_a_denying_default",
            actions::allow_under_deny,
        ),
        skippable("action_log_allows_and_logs", actions::log),
        test("args_each_operator", args::each_operator),
        test(
            "args_distinct_indexes_are_anded",
            args::distinct_indexes_and,
        ),
        test("args_repeated_index_is_ored", args::repeated_index_or),
        skippable("arch_x86_syscalls_filtered_when_listed", arch::x86),
        skippable("flag_log_logs_errno_actions", flags::log),
        test("flag_tsync_filters_existing_threads", flags::tsync),
        skippable("flag_spec_allow_keeps_ssb_unmitigated", flags::spec_allow),
        test(
            "notify_listener_answers_the_syscall",
            notify::listener_answers,
        ),
        skippable(
            "notify_listener_with_wait_killable_recv",
            notify::listener_answers_wait_killable,
        ),
        skippable(
            "enosys_prelude_for_newer_syscalls",
            enosys::newer_syscalls_get_enosys,
        ),
        test(
            "enosys_prelude_absent_under_allow",
            enosys::permissive_defaults_have_no_prelude,
        ),
        test(
            "load_needs_no_new_privs_or_cap_sys_admin",
            privileges::load_needs_nnp_or_cap_sys_admin,
        ),
        test("docker_profile_runs_true_and_ls", docker::runs_programs),
        test(
            "docker_profile_denies_by_capability_and_default",
            docker::denies,
        ),
        test(
            "docker_profile_unshare_denied_without_cap_sys_admin",
            docker::unshare,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
