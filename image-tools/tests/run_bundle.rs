mod common;
fn main() {
    common::run_trials(vec![]);
}
