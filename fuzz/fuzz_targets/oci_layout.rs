//! An OCI image layout with fuzzed bytes at one place (the first byte picks
//! it: index.json, a manifest, an image index, the oci-layout marker, a tar or
//! tar.gz layer; see `trustswap::fuzzing::OciPlace`), opened and read: never
//! panics, fails with exit 2.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trustswap::fuzzing::oci_layout_target(data));
