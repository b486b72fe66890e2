//! The allocator, and handing the memory a call freed back to the system.
//!
//! mimalloc keeps freed pages for reuse and returns them (its purge) only
//! from inside a later allocation. Between two calls Python allocates
//! elsewhere, so a call's scratch (states, key maps, chunk codes: hundreds of
//! MiB with a million segments) stayed resident until the next call. A
//! thread of ours returns it once no call has run for [`IDLE`]; calls made
//! back to back still reuse it, which spares them faulting fresh pages in.
//!
//! A call of millions of cells is the exception while it finishes (see
//! [`while_finishing`]): what it frees then goes back at once.
//!
//! mimalloc is built without transparent huge pages (its `no_thp` feature):
//! it would mark its memory for them, and each first touch of a 2 MiB range
//! then zeroes all of it, after compacting memory to find one where the
//! system defragments on demand. Memory returned at once comes back in 2 MiB
//! faults again. Repeat purchase at 10^6 segments (10M orders) spent 42% of
//! its cycles zeroing pages; without huge pages, the suite's first call there
//! took 7.8-8.8 s against 10.8-12.1 s, and calls at 666 reps the same time.
use std::os::raw::{c_int, c_long};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long no call may have run before the freed memory goes back.
const IDLE: Duration = Duration::from_millis(500);

/// Calls running now, and calls ended so far.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static ENDED: AtomicU64 = AtomicU64::new(0);
static RELEASER: OnceLock<Option<Thread>> = OnceLock::new();

/// Held for the length of a call into the core (see `guarded`).
pub(crate) struct Call(());

impl Call {
    pub(crate) fn start() -> Call {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Call(())
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        ENDED.fetch_add(1, Ordering::SeqCst);
        if !crate::engine::parallel() {
            // A forked child has no releaser thread (threads do not survive
            // fork): release now.
            release_free_memory();
        } else if let Some(releaser) = releaser() {
            releaser.unpark();
        }
    }
}

fn releaser() -> Option<&'static Thread> {
    RELEASER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("kpiforge-release".into())
                .spawn(release_when_idle)
                .ok()
                .map(|handle| handle.thread().clone())
        })
        .as_ref()
}

fn release_when_idle() {
    // mimalloc's collect does nothing on a thread that never allocated.
    let _own_heap = std::hint::black_box(Box::new(0u64));
    let mut released = 0;
    loop {
        std::thread::park();
        // Wait until a whole IDLE passes with no call ending or running.
        loop {
            let ended = ENDED.load(Ordering::SeqCst);
            if ended == released {
                break;
            }
            std::thread::sleep(IDLE);
            if ENDED.load(Ordering::SeqCst) == ended && RUNNING.load(Ordering::SeqCst) == 0 {
                release_free_memory();
                released = ended;
            }
        }
    }
}

/// Return every page no live allocation uses to the system.
fn release_free_memory() {
    extern "C" {
        // From the mimalloc that the `mimalloc` crate links (libmimalloc-sys).
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect takes no pointers and frees only unused pages.
    unsafe { mi_collect(true) }
}

/// From this many cells, a call returns the memory it frees while finishing
/// at once. Finishing frees the KPIs' states one KPI at a time (and the
/// walks' parts) while the output columns are allocated: at 10M orders and
/// 9.6M cells, kept resident the freed memory stood beside the whole output
/// at the call's end, where its peak is (peak RSS of the suite with
/// `columns=` 5,842-6,021 MiB against 5,195-5,338 returned at once, for
/// 5-10% more time). At 10^5 segments (0.9M cells) returning it cost the next
/// call's walks their warm pages (orders 1.8 -> 2.4-2.6 s) for 120-160 MiB.
pub(crate) const AT_ONCE_FROM_CELLS: usize = 1 << 22;

/// mimalloc's `mi_option_purge_delay` (the 16th of its `mi_option_t`; the
/// bindings name no constant for it): milliseconds from a free to its purge,
/// 0 for at once.
const PURGE_DELAY: c_int = 15;

extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// Calls finishing with the purge at once, and the delay to restore after the last.
static AT_ONCE: Mutex<(usize, c_long)> = Mutex::new((0, 0));

/// While held, memory freed goes back to the system at once (process-wide:
/// a call running beside it returns its memory at once too).
pub(crate) struct ReturnFreedAtOnce(());

/// Held by `finish` for a call of `cells` cells: see [`AT_ONCE_FROM_CELLS`].
pub(crate) fn while_finishing(cells: usize) -> Option<ReturnFreedAtOnce> {
    (cells >= AT_ONCE_FROM_CELLS).then(ReturnFreedAtOnce::start)
}

/// Set the number of guards held to `held`: the first one saves the delay
/// and sets 0, and going back to none restores the saved delay.
fn hold(at_once: &mut (usize, c_long), held: usize) {
    // SAFETY: plain reads and writes of one of mimalloc's options.
    match (at_once.0, held) {
        (0, 1..) => {
            at_once.1 = unsafe { mi_option_get(PURGE_DELAY) };
            unsafe { mi_option_set(PURGE_DELAY, 0) };
        }
        (1.., 0) => unsafe { mi_option_set(PURGE_DELAY, at_once.1) },
        _ => {}
    }
    at_once.0 = held;
}

impl ReturnFreedAtOnce {
    pub(crate) fn start() -> Self {
        let mut at_once = AT_ONCE.lock().unwrap_or_else(|e| e.into_inner());
        let held = at_once.0 + 1;
        hold(&mut at_once, held);
        ReturnFreedAtOnce(())
    }
}

impl Drop for ReturnFreedAtOnce {
    fn drop(&mut self) {
        let mut at_once = AT_ONCE.lock().unwrap_or_else(|e| e.into_inner());
        let held = at_once.0 - 1;
        hold(&mut at_once, held);
    }
}

/// In a forked child: no guard survived the fork (only the forking thread
/// did), so the purge delay goes back to what it was before any. (`try_lock`:
/// a lock held by a thread that did not survive would never be released.)
pub(crate) fn after_fork() {
    if let Ok(mut at_once) = AT_ONCE.try_lock() {
        hold(&mut at_once, 0);
    }
}

/// mimalloc's purge delay now (tests: what the guard sets and restores).
pub(crate) fn purge_delay() -> c_long {
    // SAFETY: a plain read of one of mimalloc's options.
    unsafe { mi_option_get(PURGE_DELAY) }
}
