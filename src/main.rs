//! The `latchkey` binary: a thin shell around [`latchkey::cli`].

/// Every request allocates a few small buffers and one page-sized one; glibc consolidates its
/// free lists on each page-sized request, which showed in profiles of the hot path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    latchkey::cli::main()
}
