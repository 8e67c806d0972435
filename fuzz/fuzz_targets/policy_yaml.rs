//! A policy file for `trustswap diff` (`PolicySet::load`): never panics, fails
//! with exit 2, and a set that loads equals itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trustswap::fuzzing::policy_set_target(data));
