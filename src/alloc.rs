//! The process allocator: the system allocator, except that large over-aligned blocks are
//! carved out of ordinary 16-byte-aligned ones, so that a zeroed one comes from `calloc`.
//!
//! Why: the standard library's Unix allocator zeroes a block whose alignment exceeds 16 bytes
//! by writing every byte (`posix_memalign` + memset), which faults in every page. polars
//! allocates one such block in every process that runs a query (its shared 8 MiB zero buffer,
//! 4096-byte aligned): about 10 ms of page faults and memset, serial, on the critical path of
//! every `profile` run. `calloc` of a large block gets fresh pages from the kernel that are
//! already zero and are never touched unless written.
//!
//! Invariants: a block is *carved* exactly when its layout has an alignment above
//! [`NATIVE_ALIGN`] and a size of at least [`CARVE_MIN`] — the same test on allocation, on
//! release and on reallocation, so every block is released the way it was allocated. A carved
//! block is `size + align` bytes from the system allocator at 16-byte alignment; the pointer
//! handed out is the first multiple of `align` past its start, and the start is stored in the
//! 8 bytes just below that pointer (there are at least 16, because the start is 16-aligned and
//! `align` is a larger power of two). Everything else goes to [`System`] unchanged.

#![allow(unsafe_code)] // a GlobalAlloc is unsafe by definition; every block is commented

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Alignment the system allocator gives every block (glibc, macOS: 16 on 64-bit targets).
pub const NATIVE_ALIGN: usize = 16;

/// Over-aligned blocks from this size on are carved (below it the memset is cheap and the
/// `align` bytes of slack are not worth it).
pub const CARVE_MIN: usize = 64 << 10;

/// The allocator; `src/main.rs` and the benchmarks install it with `#[global_allocator]`.
pub struct Allocator;

fn carved(layout: Layout) -> bool {
    layout.align() > NATIVE_ALIGN && layout.size() >= CARVE_MIN
}

/// Layout of the ordinary block a carved one lives in (`None` on overflow).
fn outer(layout: Layout) -> Option<Layout> {
    Layout::from_size_align(layout.size().checked_add(layout.align())?, NATIVE_ALIGN).ok()
}

/// The carved pointer inside the block at `start`, with `start` recorded below it.
///
/// # Safety
/// `start` must be a live block of `outer(layout)`.
unsafe fn carve(start: *mut u8, layout: Layout) -> *mut u8 {
    if start.is_null() {
        return start;
    }
    let offset = layout.align() - (start as usize & (layout.align() - 1));
    // SAFETY: offset is in 16..=align, inside the block of size + align bytes, and the 8 bytes
    // below the carved pointer lie in the block too (offset >= 16).
    unsafe {
        let p = start.add(offset);
        ptr::write_unaligned(p.sub(8).cast::<usize>(), start as usize);
        p
    }
}

/// Start of the block a carved pointer was cut from.
///
/// # Safety
/// `p` must have been returned by [`carve`].
unsafe fn start_of(p: *mut u8) -> *mut u8 {
    // SAFETY: carve wrote the start 8 bytes below p.
    unsafe { ptr::read_unaligned(p.sub(8).cast::<usize>()) as *mut u8 }
}

/// A block of `layout` from `system` (the system allocator's `alloc` or `alloc_zeroed`),
/// carved when [`carved`] says so.
///
/// # Safety
/// As for [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
unsafe fn allocate(layout: Layout, system: unsafe fn(&System, Layout) -> *mut u8) -> *mut u8 {
    if !carved(layout) {
        return unsafe { system(&System, layout) };
    }
    match outer(layout) {
        Some(o) => unsafe { carve(system(&System, o), layout) },
        None => ptr::null_mut(),
    }
}

// SAFETY: every block comes from System; carved blocks are released through the start and the
// outer layout they were allocated with, which `carved` and `outer` recompute from the layout
// the caller must pass back.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { allocate(layout, <System as GlobalAlloc>::alloc) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { allocate(layout, <System as GlobalAlloc>::alloc_zeroed) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if !carved(layout) {
            return unsafe { System.dealloc(p, layout) };
        }
        if let Some(o) = outer(layout) {
            unsafe { System.dealloc(start_of(p), o) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        if !carved(layout) && !carved(new_layout) {
            return unsafe { System.realloc(p, layout, new_size) };
        }
        // SAFETY: both blocks are live and at least min(old, new) bytes long.
        unsafe {
            let q = self.alloc(new_layout);
            if !q.is_null() {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
            q
        }
    }
}

/// The library's own tests run on it too, polars' queries among them.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: Allocator = Allocator;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_block(layout: Layout, zeroed: bool, f: impl FnOnce(*mut u8)) {
        unsafe {
            let p = if zeroed {
                Allocator.alloc_zeroed(layout)
            } else {
                Allocator.alloc(layout)
            };
            assert!(!p.is_null());
            f(p);
            Allocator.dealloc(p, layout);
        }
    }

    #[test]
    fn large_over_aligned_blocks_are_aligned_zeroed_and_writable() {
        for align in [32, 4096, 1 << 16] {
            let layout = Layout::from_size_align(8 << 20, align).unwrap();
            with_block(layout, true, |p| unsafe {
                assert_eq!(p as usize % align, 0);
                let s = std::slice::from_raw_parts_mut(p, layout.size());
                assert!(s.iter().step_by(4093).all(|&b| b == 0));
                s[0] = 1;
                s[layout.size() - 1] = 2;
            });
        }
    }

    /// Resident bytes of this process (Linux: `/proc/self/statm`, in pages of 4 KiB).
    #[cfg(target_os = "linux")]
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<usize>()
            .unwrap()
            * 4096
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_zeroed_over_aligned_block_is_not_resident_until_written() {
        // The system allocator would write all 64 MiB (posix_memalign + memset).
        let layout = Layout::from_size_align(64 << 20, 4096).unwrap();
        let before = resident_bytes();
        with_block(layout, true, |p| {
            let grown = resident_bytes().saturating_sub(before);
            assert!(grown < 16 << 20, "{grown} bytes became resident");
            assert_eq!(unsafe { *p.add(layout.size() / 2) }, 0);
        });
    }

    #[test]
    fn small_and_ordinary_blocks_go_to_the_system_allocator_unchanged() {
        for (size, align) in [(1, 1), (100, 8), (CARVE_MIN - 1, 4096), (1 << 20, 16)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            with_block(layout, true, |p| unsafe {
                assert_eq!(p as usize % align, 0);
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
            });
        }
    }

    #[test]
    fn realloc_across_the_carving_threshold_keeps_the_contents() {
        unsafe {
            let small = Layout::from_size_align(1024, 4096).unwrap();
            let p = Allocator.alloc(small);
            for i in 0..1024 {
                *p.add(i) = i as u8;
            }
            // Grows into a carved block, then shrinks back out of it.
            let q = Allocator.realloc(p, small, 1 << 20);
            assert_eq!(q as usize % 4096, 0);
            assert!((0..1024).all(|i| *q.add(i) == i as u8));
            let large = Layout::from_size_align(1 << 20, 4096).unwrap();
            let r = Allocator.realloc(q, large, 512);
            assert!((0..512).all(|i| *r.add(i) == i as u8));
            Allocator.dealloc(r, Layout::from_size_align(512, 4096).unwrap());
        }
    }
}
