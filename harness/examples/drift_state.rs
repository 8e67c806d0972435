//! Writes a synthetic drift-audit input (the fleet of `tests/cli/synth.rs`:
//! `pods` pods x 3 containers, 10,000 manifest digests, 2,000 namespaces, 50
//! teams) as YAML or JSON, by the file's extension, to measure
//! `trustswap audit drift` at scale:
//!
//! ```text
//! nice -n 10 cargo run --release --example drift_state -- 1000000 /tmp/state-1m.json
//! nice -n 10 cargo run --release --example drift_state -- 1000000 /tmp/state-1m.yaml
//! cargo build --release
//! /usr/bin/time -v target/release/trustswap audit drift --input /tmp/state-1m.yaml \
//!     --now 2026-06-01T00:00:00Z --max-input-size 1GiB > /dev/null
//! ```
//!
//! (exit 1: the synthetic fleet has findings). `/usr/bin/time -v` reports the
//! wall time and the peak memory ("Maximum resident set size").

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

#[path = "../tests/cli/synth.rs"]
mod synth;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pods: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| format!("/tmp/drift-state-{pods}.json")),
    );
    let json = out.extension().and_then(|e| e.to_str()) == Some("json");

    let t = Instant::now();
    let input = synth::generate(pods, 10_000, 2_000, 50);
    let generated = t.elapsed();
    let t = Instant::now();
    let mut w = BufWriter::new(std::fs::File::create(&out)?);
    if json {
        serde_json::to_writer(&mut w, &input)?;
    } else {
        serde_saphyr::to_io_writer(&mut w, &input)?;
    }
    w.flush()?;
    drop(w);
    let size = std::fs::metadata(&out)?.len();
    println!(
        "{}: {pods} pods, {} containers, {:.1} MiB of {} (generated in {:.1} s, written in {:.1} s)",
        out.display(),
        input
            .state
            .pods
            .iter()
            .map(|p| p.containers.len())
            .sum::<usize>(),
        size as f64 / 1048576.0,
        if json { "JSON" } else { "YAML" },
        generated.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
