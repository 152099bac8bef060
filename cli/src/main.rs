//! The `tokenlife` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    tokenlife::main()
}
