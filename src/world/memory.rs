//! glibc's allocator, tuned for a long-lived process that is idle most of its life
//! (issue 10: idle RSS). By default glibc gives each thread that allocates an arena
//! of its own and raises its mmap threshold to the size of the largest block freed
//! (up to 32 MiB): a worker's 5 MiB disk probe (`wire::signature::PROBE_HEAD` +
//! `PROBE_TAIL`) then comes from, and stays resident in, that worker's arena long
//! after the boot. A fixed threshold keeps large blocks in their own mappings,
//! returned to the kernel on free; a low trim threshold gives back the heap's freed
//! top; two arenas are plenty for one loop thread, a small worker pool and a few
//! sink writers that each allocate a line at a time.
#![allow(unsafe_code)]

/// Blocks at least this large get a mapping of their own (glibc's starting value,
/// kept fixed).
const MMAP_THRESHOLD: i32 = 128 << 10;
/// Freed memory at the top of a heap beyond this goes back to the kernel.
const TRIM_THRESHOLD: i32 = 128 << 10;
/// Arenas at most (glibc's default: 8 per core).
const ARENA_MAX: i32 = 2;

/// Set the allocator's limits; call before any thread starts. Failure (another
/// libc) leaves glibc's defaults, which only cost memory.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and runs before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}
