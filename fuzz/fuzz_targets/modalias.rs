#![no_main]
// Body and properties: fuzz/src/lib.rs (shared with tests/harden_fuzz.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| nodeboot_fuzz::check_modalias(data));
