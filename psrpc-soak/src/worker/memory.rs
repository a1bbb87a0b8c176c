//! What a worker holds in memory, measured when the orchestrator asks
//! (`SIGUSR1`): its resident set once the allocator has handed back the
//! free pages it keeps, and its heap in use.
//!
//! Decision: glibc's allocator keeps the pages a burst of work freed (a
//! server that was paused works off the requests that queued meanwhile at
//! once), and returns them only from the top of each arena. Read as is,
//! `VmRSS` then tells the largest burst so far, not a leak: a server whose
//! heap in use was back at 250 kB after a burst showed +44 % RSS. So a
//! measurement first asks glibc to return every whole free page
//! (`malloc_trim(0)`), then reads `VmRSS`. A leak still grows it: leaked
//! memory is in use. The heap in use (bytes allocated and not yet freed,
//! counted by this binary's allocator) is reported beside it, to tell a
//! leak from pages the process touched once (code paths run for the first
//! time, thread stacks).

use std::alloc::System;

use serde::{Deserialize, Serialize};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::signal::unix::{SignalKind, signal};

use crate::events::{Emitter, Event};

/// Every allocation of the binary (orchestrator and workers), counted.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One measurement of a process's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Memory {
    /// Resident set size after the allocator returned its free pages, in kB.
    pub(crate) rss_kb: u64,
    /// Heap in use (allocated and not freed), in kB.
    pub(crate) heap_kb: u64,
}

/// Answers every `SIGUSR1` with a [`Memory`] event. Registers the signal
/// at once (its default action ends the process), then answers on a task
/// of its own.
pub(crate) fn answer_requests(events: Emitter) -> std::io::Result<()> {
    let mut requests = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        while requests.recv().await.is_some() {
            events.emit(Event::Memory(measure()));
        }
    });
    Ok(())
}

/// This process's memory now, after returning the allocator's free pages.
fn measure() -> Memory {
    release_free_pages();
    let stats = ALLOCATOR.stats();
    let heap = stats.bytes_allocated.saturating_sub(stats.bytes_deallocated);
    Memory { rss_kb: rss_kb().unwrap_or(0), heap_kb: u64::try_from(heap / 1024).unwrap_or(u64::MAX) }
}

/// `VmRSS` of this process, in kB.
fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Asks glibc to return every whole free page of every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim has no Rust binding")]
fn release_free_pages() {
    // SAFETY: `malloc_trim` takes no pointer and is thread-safe (MT-Safe in
    // glibc's manual); it only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return free pages by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_pages() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_burst_is_given_back_around_what_stays() {
        // A 4 MiB burst with something that stays after each 64 kB of it, so
        // the freed burst is holes glibc does not return by itself. 3 MiB
        // margins leave room for what the other tests allocate meanwhile.
        let before = measure();
        let (burst, stays): (Vec<Vec<u8>>, Vec<Box<u64>>) =
            (0..64).map(|i| (vec![1u8; 64 * 1024], Box::new(i))).unzip();
        let during = measure();
        drop(burst);
        let after = measure();
        assert!(during.heap_kb >= before.heap_kb + 3 * 1024, "{before:?} -> {during:?}");
        assert!(during.rss_kb >= before.rss_kb + 3 * 1024, "{before:?} -> {during:?}");
        assert!(after.heap_kb < during.heap_kb - 3 * 1024, "{during:?} -> {after:?}");
        assert!(after.rss_kb < during.rss_kb - 3 * 1024, "{during:?} -> {after:?}");
        assert_eq!(stays.iter().map(|b| **b).sum::<u64>(), 2016);
    }
}
