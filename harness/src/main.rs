fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(trustswap::cli::main())
}
