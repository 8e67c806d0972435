# trustswap tasks. `just` lists them.

default:
    @just --list

# The main job on the embedded default.
run *ARGS:
    cargo run --release -- run {{ARGS}}

# The static substitution check with the published DHI key read from the shared test data.
check *ARGS:
    cargo run -- --key-cache ../shared/realworld/trust/docker-hardened-images check {{ARGS}}

# Everything CI runs.
ci:
    bash .ci/run

test:
    cargo test --workspace --locked

fmt:
    cargo fmt --all

lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Review snapshot changes (needs cargo-insta); never accept blindly.
snap:
    cargo insta test --review

bench:
    cargo bench --workspace

# Build the real tools (Kyverno, kube-apiserver, etcd, cosign) from the Go module proxy; prints their folder.
oracle:
    oracle/build
