//! The modules' allocator: talc, with a cache of freed small blocks in front of it.
//!
//! Reading, recording and encoding an event allocates and frees a few dozen small blocks
//! (strings, map nodes, boxed messages), and in a profile of the single-event calls and of the
//! batch path talc's allocate/free (with their gap bookkeeping) were about a sixth of the module's
//! time. Freed blocks of up to [`SMALL`] bytes are kept on one free list per 8-byte size class and
//! handed out again by the next allocation of that class: a pop or a push instead of talc's search
//! and coalescing. At most [`CACHED_BYTES`] are kept; beyond that, blocks go back to talc. No
//! allocator crate offers such a front cache for a `GlobalAlloc` (talc, dlmalloc, lol_alloc and
//! rlsf are all general-purpose heaps), hence these few lines.
//!
//! WASM without threads only (the `cfg` on its use): the lists are not synchronised.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Blocks of at most this many bytes (and alignment at most [`GRANULE`]) are cached: besides
/// strings, this covers what a single call allocates beyond 256 bytes (its input's copy, the
/// answer's 2 KiB buffer, a boxed `Event`, a `Struct`'s map nodes), which went to talc when the
/// limit was 256 (the single calls took about 4% longer).
const SMALL: usize = 2048;
/// Size classes are multiples of this (also the alignment every cached block has).
const GRANULE: usize = 8;
const CLASSES: usize = SMALL / GRANULE;
/// The most bytes kept in the free lists (the rest is returned to talc).
const CACHED_BYTES: usize = 256 * 1024;

struct Lists {
    /// Per class, the first free block; each free block's first word points to the next.
    heads: [*mut u8; CLASSES],
    cached: usize,
}

/// `Inner` (talc) with the small-block cache in front.
pub(crate) struct Cached<Inner> {
    inner: Inner,
    lists: UnsafeCell<Lists>,
}

// SAFETY: used only as the global allocator of a single-threaded WASM module (no atomics), where
// nothing can run concurrently with an allocation.
unsafe impl<Inner: Sync> Sync for Cached<Inner> {}

impl<Inner> Cached<Inner> {
    pub(crate) const fn new(inner: Inner) -> Self {
        Cached {
            inner,
            lists: UnsafeCell::new(Lists {
                heads: [ptr::null_mut(); CLASSES],
                cached: 0,
            }),
        }
    }
}

/// The size class of a small layout: its index and the layout its blocks have in talc.
#[inline]
fn class(layout: Layout) -> Option<(usize, Layout)> {
    let size = layout.size();
    if size == 0 || size > SMALL || layout.align() > GRANULE {
        return None;
    }
    let index = (size - 1) / GRANULE;
    // A multiple of 8 up to SMALL, aligned to 8: always a valid layout.
    let block = Layout::from_size_align((index + 1) * GRANULE, GRANULE).ok()?;
    Some((index, block))
}

unsafe impl<Inner: GlobalAlloc> GlobalAlloc for Cached<Inner> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let layout = match class(layout) {
            Some((index, block)) => {
                // SAFETY: single-threaded (see the Sync impl); no reference into the lists
                // outlives this call.
                let lists = unsafe { &mut *self.lists.get() };
                if let Some(head) = lists.heads.get_mut(index)
                    && !head.is_null()
                {
                    let free = *head;
                    // SAFETY: `free` is a cached block of this class (at least 8 bytes,
                    // 8-aligned) whose first word holds the next free block.
                    *head = unsafe { free.cast::<*mut u8>().read() };
                    lists.cached -= block.size();
                    return free;
                }
                block
            }
            None => layout,
        };
        // SAFETY: a valid non-zero layout (a small block gets its class's layout).
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let layout = match class(layout) {
            Some((index, block)) => {
                // SAFETY: as in `alloc`.
                let lists = unsafe { &mut *self.lists.get() };
                if let Some(head) = lists.heads.get_mut(index)
                    && lists.cached + block.size() <= CACHED_BYTES
                {
                    // SAFETY: the block is ours again (at least 8 bytes, 8-aligned): its first
                    // word now links the list.
                    unsafe { ptr.cast::<*mut u8>().write(*head) };
                    *head = ptr;
                    lists.cached += block.size();
                    return;
                }
                block
            }
            None => layout,
        };
        // SAFETY: allocated by `inner` with this layout (a small block with its class's).
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (whole function): the caller's contract for `realloc`; every block is allocated
        // and freed through this allocator's own `alloc`/`dealloc`, which agree on its class.
        unsafe {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return ptr::null_mut();
            };
            match (class(layout), class(new_layout)) {
                // Two large blocks: talc may grow or shrink in place.
                (None, None) => self.inner.realloc(ptr, layout, new_size),
                // The same class: the block already fits.
                (Some((a, _)), Some((b, _))) if a == b => ptr,
                _ => {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn freed_blocks_are_reused_and_contents_survive_realloc() {
        let a = Cached::new(System);
        // SAFETY: every block is used within its layout and freed once, with the layout (or the
        // size after realloc) it has.
        unsafe {
            let p = a.alloc(layout(20, 4));
            a.dealloc(p, layout(20, 4));
            // 17..=24 bytes is one class: the block just freed comes back.
            let q = a.alloc(layout(24, 8));
            assert_eq!(p, q);
            for i in 0..24 {
                q.add(i).write(i as u8);
            }
            // Into a large block and back into a small one: the contents move along.
            let r = a.realloc(q, layout(24, 8), 300);
            assert!((0..24).all(|i| r.add(i).read() == i as u8));
            let s = a.realloc(r, layout(300, 8), 40);
            assert!((0..24).all(|i| s.add(i).read() == i as u8));
            // Within one class: the same block.
            assert_eq!(a.realloc(s, layout(40, 8), 35), s);
            a.dealloc(s, layout(35, 8));
            // A larger alignment than the classes' is not cached, and is honoured.
            let big = a.alloc(layout(64, 64));
            assert_eq!(big as usize % 64, 0);
            a.dealloc(big, layout(64, 64));
        }
    }

    #[test]
    fn the_cache_is_bounded() {
        let a = Cached::new(System);
        let n = CACHED_BYTES / SMALL + 10;
        // SAFETY: blocks allocated and freed once with the same layout.
        unsafe {
            let blocks: Vec<*mut u8> = (0..n).map(|_| a.alloc(layout(SMALL, 8))).collect();
            for &b in &blocks {
                a.dealloc(b, layout(SMALL, 8));
            }
            assert_eq!((*a.lists.get()).cached, CACHED_BYTES);
        }
    }

    /// The system allocator, checking that every block it is given back (freed or reallocated)
    /// is one it handed out, with the layout it was allocated with (`GlobalAlloc`'s contract).
    struct Checked {
        live: std::sync::Mutex<std::collections::HashMap<usize, Layout>>,
    }

    unsafe impl GlobalAlloc for Checked {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract.
            let p = unsafe { System.alloc(layout) };
            assert!(
                self.live
                    .lock()
                    .unwrap()
                    .insert(p as usize, layout)
                    .is_none()
            );
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            assert_eq!(
                self.live.lock().unwrap().remove(&(ptr as usize)),
                Some(layout)
            );
            // SAFETY: checked just above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            assert_eq!(
                self.live.lock().unwrap().remove(&(ptr as usize)),
                Some(layout)
            );
            // SAFETY: checked just above.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            let new = Layout::from_size_align(new_size, layout.align()).unwrap();
            assert!(self.live.lock().unwrap().insert(p as usize, new).is_none());
            p
        }
    }

    #[test]
    fn random_alloc_realloc_dealloc_keep_contents_and_the_inner_contract() {
        let a = Cached::new(Checked {
            live: Default::default(),
        });
        // xorshift64: a fixed, reproducible sequence (no dependency for a test).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        // Sizes around every class edge and past SMALL; alignments 1 to 64.
        let size = |next: &mut dyn FnMut(usize) -> usize| match next(4) {
            0 => 1 + next(16),
            1 => 1 + next(SMALL),
            2 => SMALL - 8 + next(16),
            _ => 1 + next(3 * SMALL),
        };
        // (pointer, layout, fill byte): each live block is filled with its own byte.
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let check = |p: *mut u8, l: Layout, fill: u8, len: usize| {
            assert_eq!(p as usize % l.align(), 0);
            // SAFETY: `p` is live with at least `len <= l.size()` bytes written.
            assert!((0..len).all(|i| unsafe { p.add(i).read() } == fill));
        };
        for round in 0..20_000u32 {
            let fill = round as u8;
            match next(3) {
                0 => {
                    let l = layout(size(&mut next), 1 << next(7));
                    // SAFETY: a non-zero layout; the block is written within it.
                    let p = unsafe { a.alloc(l) };
                    assert!(!p.is_null());
                    unsafe { p.write_bytes(fill, l.size()) };
                    live.push((p, l, fill));
                }
                1 if !live.is_empty() => {
                    let (p, l, f) = live.swap_remove(next(live.len()));
                    check(p, l, f, l.size());
                    // SAFETY: live, allocated with `l`.
                    unsafe { a.dealloc(p, l) };
                }
                _ if !live.is_empty() => {
                    let at = next(live.len());
                    let (p, l, f) = live[at];
                    let new_size = size(&mut next);
                    // SAFETY: live, allocated with `l`; a non-zero new size.
                    let q = unsafe { a.realloc(p, l, new_size) };
                    assert!(!q.is_null());
                    let nl = layout(new_size, l.align());
                    check(q, nl, f, l.size().min(new_size));
                    // SAFETY: within the new layout.
                    unsafe { q.write_bytes(fill, new_size) };
                    live[at] = (q, nl, fill);
                }
                _ => {}
            }
            // No two live blocks overlap.
            if round % 1000 == 0 {
                let mut spans: Vec<(usize, usize)> = live
                    .iter()
                    .map(|&(p, l, _)| (p as usize, p as usize + l.size()))
                    .collect();
                spans.sort_unstable();
                assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
            }
        }
        for (p, l, f) in live {
            check(p, l, f, l.size());
            // SAFETY: live, allocated with `l`.
            unsafe { a.dealloc(p, l) };
        }
        // Everything not cached went back to the inner allocator; what is cached is counted.
        // SAFETY: no allocation runs concurrently.
        let cached = unsafe { (*a.lists.get()).cached };
        assert!(cached <= CACHED_BYTES);
        let held: usize = a
            .inner
            .live
            .lock()
            .unwrap()
            .values()
            .map(|l| l.size())
            .sum();
        assert_eq!(held, cached);
    }
}
