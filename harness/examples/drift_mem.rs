//! Peak memory and wall time of one drift run over 100,000 pods x 10,000
//! digests. Reads VmHWM (peak RSS) from /proc/self/status, so Linux only.
//! Run: `nice -n 10 cargo run --release --example drift_mem [pods] [digests]`.

use std::time::Instant;

use trustswap::audit::drift::{DriftOptions, TableFilter, drift, render_table};

#[path = "../tests/cli/synth.rs"]
mod synth;

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pods: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let digests: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let base = status_kib("VmHWM:");

    let t = Instant::now();
    let input = synth::generate(pods, digests, 2_000, 50);
    let gen_time = t.elapsed();
    let after_input = status_kib("VmHWM:");

    let t = Instant::now();
    let report = drift(&input, &DriftOptions::default(), synth::now())?;
    let drift_time = t.elapsed();
    let after_drift = status_kib("VmHWM:");

    let t = Instant::now();
    let json = serde_json::to_vec(&report)?;
    let json_time = t.elapsed();
    let json_len = json.len();
    drop(json);
    let t = Instant::now();
    let table = render_table(&report, TableFilter::NotCompliant);
    let table_time = t.elapsed();

    let s = &report.summary;
    println!(
        "fleet: {} pods, {} containers, {} namespaces, {} teams, {} manifest digests",
        s.pods,
        s.containers,
        s.by_namespace.len(),
        s.by_team.len(),
        input.manifest.entries.len()
    );
    for (status, n) in &s.by_status {
        println!("  {:<20}{n:>8}", status.as_str());
    }
    println!("  waived              {:>8}", s.waived);
    println!("generate input:  {:>8.1} ms", gen_time.as_secs_f64() * 1e3);
    println!(
        "drift (release): {:>8.1} ms",
        drift_time.as_secs_f64() * 1e3
    );
    println!(
        "json:            {:>8.1} ms ({:.1} MiB)",
        json_time.as_secs_f64() * 1e3,
        json_len as f64 / 1048576.0
    );
    println!(
        "table:           {:>8.1} ms ({} lines)",
        table_time.as_secs_f64() * 1e3,
        table.lines().count()
    );
    println!(
        "peak RSS (VmHWM): start {:.1} MiB, after input {:.1} MiB, after drift {:.1} MiB (drift added {:.1} MiB)",
        mib(base),
        mib(after_input),
        mib(after_drift),
        mib(after_drift.saturating_sub(after_input))
    );
    println!("peak RSS at exit: {:.1} MiB", mib(status_kib("VmHWM:")));
    Ok(())
}
