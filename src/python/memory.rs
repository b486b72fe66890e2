//! The allocator, and handing the memory a call freed back to the system.
//!
//! mimalloc keeps freed pages for reuse and returns them (its purge) only
//! from inside a later allocation. Between two calls Python allocates
//! elsewhere, so a call's scratch (states, key maps, chunk codes: hundreds of
//! MiB with a million segments) stayed resident until the next call. A
//! thread of ours returns it once no call has run for [`IDLE`]; calls made
//! back to back still reuse it, which spares them faulting fresh pages in.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
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
