//! The `nodeboot` binary: parse the command line and run it. As PID 1 this never
//! returns (see `world::init`).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = nodeboot::cli::main(args);
    std::process::exit(code);
}
