fn main() -> std::process::ExitCode {
    driftgate::cli::main()
}
