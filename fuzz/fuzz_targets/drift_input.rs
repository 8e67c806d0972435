//! A drift-audit input (`trustswap audit drift --input`): parsed, classified
//! and rendered; never panics, fails with exit 2.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trustswap::fuzzing::drift_target(data));
