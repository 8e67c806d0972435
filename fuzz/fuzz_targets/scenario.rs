//! A hypothesis file (`scenarios/<id>.yaml`), loaded and validated: never
//! panics, fails with exit 2.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trustswap::fuzzing::scenario_target(data));
