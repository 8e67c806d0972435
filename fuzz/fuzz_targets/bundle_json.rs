//! A Sigstore bundle, parsed and verified (strict) against the lab's fixed
//! trust root for the lab image's digest: never panics, and is never accepted
//! for a digest it does not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustswap::fuzzing::BundleBench;

thread_local! {
    static BENCH: BundleBench = BundleBench::lab().expect("the lab bundle bench builds");
}

fuzz_target!(|data: &[u8]| BENCH.with(|bench| bench.target(data)));
