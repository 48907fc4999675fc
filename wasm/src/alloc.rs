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
    // A multiple of 8 up to 256, aligned to 8: always a valid layout.
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
}
