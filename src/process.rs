//! Settings of the whole process that a scan of many BMCs needs.

/// Prepares the process for a scan of many BMCs: see [`raise_open_file_limit`] and
/// [`disable_transparent_huge_pages`]. Call it at the start of `main`.
pub fn prepare_for_scans() {
    raise_open_file_limit();
    disable_transparent_huge_pages();
}

/// Raises the soft limit of open files to the hard limit. A scan uses up to
/// `--max-in-flight` connections per node in progress, so large `--concurrency` values pass
/// the common soft limit of 1,024. Failure leaves the limit as it was.
pub fn raise_open_file_limit() {
    let Some(mut limit) = open_file_limit() else { return };
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct passed by pointer.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Returns the nodes that can be scanned at once within the soft limit of open files, at
/// most `requested`. Each node in progress uses up to `max_in_flight` connections and may
/// have one more for a logout in the background. 64 files are left for everything else.
pub fn concurrency_within_file_limit(requested: usize, max_in_flight: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return requested;
    };
    let per_node = max_in_flight as u64 + 1;
    let fitting = usize::try_from(limit.rlim_cur.saturating_sub(64) / per_node).unwrap_or(usize::MAX);
    requested.min(fitting.max(1))
}

/// Returns the soft and hard limits of open files, `None` when they cannot be read.
fn open_file_limit() -> Option<libc::rlimit> {
    // SAFETY: getrlimit only writes the struct passed by pointer, which is zeroed and valid.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0).then_some(limit)
    }
}

/// Turns transparent huge pages off for this process on Linux.
///
/// A scan allocates and frees many short-lived JSON bodies and connection buffers, and the
/// allocator returns freed memory to the kernel. Where the system enables huge pages for
/// every mapping (`always` in `/sys/kernel/mm/transparent_hugepage/enabled`), each later
/// fault on such memory zeroes 2 MiB instead of 4 KiB. In `rackcheck-bench` that zeroing
/// took 14% of the scanner's CPU. Failure leaves the setting as it was.
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only this process's flag.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_file_limit_raised_to_hard_limit() {
        raise_open_file_limit();

        let limit = open_file_limit().expect("getrlimit works on this system");
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }

    #[test]
    fn concurrency_capped_by_file_limit() {
        raise_open_file_limit();

        assert_eq!(concurrency_within_file_limit(4, 2), 4);
        assert!(concurrency_within_file_limit(usize::MAX, 2) < usize::MAX);
        assert!(concurrency_within_file_limit(usize::MAX, 2) >= 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_disabled() {
        disable_transparent_huge_pages();

        // SAFETY: PR_GET_THP_DISABLE only returns this process's flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
