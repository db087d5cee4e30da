//! Policy files (`rules/`), validation and kernel command-line overrides. TODO (rules helper).

/// `nodeboot check DIR`.
pub fn check_main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("nodeboot check: not implemented yet");
    2
}
