//! Per-run memory limits that V8's heap limit alone does not enforce.
//!
//! ArrayBuffer backing stores live outside the V8 heap, so `new ArrayBuffer(2**31)`
//! would sail past `heap_limits`. Each isolate gets an allocator that counts the bytes
//! it hands out against the run's budget; past it, the allocation fails (V8 throws a
//! RangeError) and the isolate is terminated, so the run ends "heap limit exceeded"
//! even when the code catches the RangeError.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deno_core::v8;

/// Why the engine stopped a run from outside the JS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    HeapLimit,
    TimedOut,
    Cancelled,
}

/// Shared between the isolate's thread, the allocator, the watchdog and the control
/// reader: the first reason recorded wins.
#[derive(Default)]
pub struct StopFlag {
    reason: Mutex<Option<Stop>>,
    isolate: Mutex<Option<v8::IsolateHandle>>,
    hook: Mutex<Option<StopHook>>,
    /// Wakes an event loop idling on I/O or timers, which termination alone cannot.
    wake: tokio::sync::Notify,
}

/// Told the first reason a run is stopped for.
pub type StopHook = Box<dyn Fn(Stop) + Send>;

impl StopFlag {
    /// Connects the isolate; a stop recorded before it existed takes effect now.
    pub fn attach(&self, handle: v8::IsolateHandle) {
        if self.reason().is_some() {
            handle.terminate_execution();
        }
        if let Ok(mut slot) = self.isolate.lock() {
            *slot = Some(handle);
        }
    }

    /// Called once with the first stop reason (the worker uses it to tell the server
    /// why, in case V8 then aborts the process).
    pub fn on_stop(&self, hook: StopHook) {
        if let Ok(mut h) = self.hook.lock() {
            *h = Some(hook);
        }
    }

    /// Records `reason` (unless one is recorded) and terminates the isolate.
    pub fn stop(&self, reason: Stop) {
        let first = match self.reason.lock() {
            Ok(mut r) if r.is_none() => {
                *r = Some(reason);
                true
            }
            _ => false,
        };
        if first
            && let Ok(h) = self.hook.lock()
            && let Some(hook) = h.as_ref()
        {
            hook(reason);
        }
        if let Ok(slot) = self.isolate.lock()
            && let Some(handle) = slot.as_ref()
        {
            handle.terminate_execution();
        }
        self.wake.notify_waiters();
    }

    /// Resolves once the run is stopped.
    pub async fn stopped(&self) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.reason().is_some() {
                return;
            }
            notified.await;
        }
    }

    pub fn reason(&self) -> Option<Stop> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

/// Byte budget of one isolate's ArrayBuffers.
pub struct BufferBudget {
    used: AtomicUsize,
    limit: usize,
    exceeded: AtomicBool,
    stop: Arc<StopFlag>,
}

impl BufferBudget {
    fn reserve(&self, len: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(len);
            if next > self.limit {
                if !self.exceeded.swap(true, Ordering::Relaxed) {
                    self.stop.stop(Stop::HeapLimit);
                }
                return false;
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => used = actual,
            }
        }
    }
}

const ALIGN: usize = 16;

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len.max(1), ALIGN).ok()
}

unsafe extern "C" fn allocate(budget: &BufferBudget, len: usize) -> *mut c_void {
    allocate_with(budget, len, true)
}

unsafe extern "C" fn allocate_uninitialized(budget: &BufferBudget, len: usize) -> *mut c_void {
    allocate_with(budget, len, false)
}

fn allocate_with(budget: &BufferBudget, len: usize, zeroed: bool) -> *mut c_void {
    let Some(layout) = layout(len) else {
        return std::ptr::null_mut();
    };
    if !budget.reserve(len) {
        return std::ptr::null_mut();
    }
    // SAFETY: `layout` has a non-zero size; a null result is handed to V8, which
    // treats it as an allocation failure.
    let ptr = unsafe {
        if zeroed {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    };
    if ptr.is_null() {
        budget.used.fetch_sub(len, Ordering::Relaxed);
    }
    ptr.cast()
}

unsafe extern "C" fn free(budget: &BufferBudget, data: *mut c_void, len: usize) {
    if data.is_null() {
        return;
    }
    budget.used.fetch_sub(len, Ordering::Relaxed);
    if let Some(layout) = layout(len) {
        // SAFETY: V8 frees only what `allocate*` returned, with the same length, so
        // the layout matches the one used to allocate.
        unsafe { dealloc(data.cast(), layout) };
    }
}

unsafe extern "C" fn drop_budget(budget: *const BufferBudget) {
    // SAFETY: the pointer came from `Arc::into_raw` in `counting_allocator`, and V8
    // calls this exactly once when it releases the allocator.
    unsafe { drop(Arc::from_raw(budget)) };
}

static VTABLE: v8::RustAllocatorVtable<BufferBudget> = v8::RustAllocatorVtable {
    allocate,
    allocate_uninitialized,
    free,
    drop: drop_budget,
};

/// An ArrayBuffer allocator that allows `limit` bytes and then stops the run.
pub fn counting_allocator(limit: usize, stop: Arc<StopFlag>) -> v8::UniqueRef<v8::Allocator> {
    let budget = Arc::new(BufferBudget {
        used: AtomicUsize::new(0),
        limit,
        exceeded: AtomicBool::new(false),
        stop,
    });
    // SAFETY: the handle is a live `Arc<BufferBudget>` whose ownership passes to V8,
    // and VTABLE's functions expect exactly that type.
    unsafe { v8::new_rust_allocator(Arc::into_raw(budget), &VTABLE) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_past_the_limit_and_records_the_stop() {
        let stop = Arc::new(StopFlag::default());
        let budget = BufferBudget {
            used: AtomicUsize::new(0),
            limit: 100,
            exceeded: AtomicBool::new(false),
            stop: stop.clone(),
        };
        let p = allocate_with(&budget, 60, true);
        assert!(!p.is_null());
        assert!(allocate_with(&budget, 60, false).is_null());
        assert_eq!(stop.reason(), Some(Stop::HeapLimit));
        // SAFETY: `p` came from `allocate_with` with the same length.
        unsafe { free(&budget, p, 60) };
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }
}
