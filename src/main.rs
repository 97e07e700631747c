//! The `latchkey` binary: a thin shell around [`latchkey::cli`].

fn main() -> std::process::ExitCode {
    latchkey::cli::main()
}
