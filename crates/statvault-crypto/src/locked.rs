//! Keeping keys out of swap and core dumps.
//!
//! A core of `vault add` used to hold the encryption, chunk-id and signing keys. Every
//! key type therefore lives in [`Locked`] memory: whole pages of its own, locked in RAM
//! where the system allows it (`mlock`), left out of core dumps (`MADV_DONTDUMP`), and
//! wiped before they are freed. [`protect_process`] makes the whole process
//! non-dumpable and sets its core size limit to zero.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Makes this process non-dumpable (no core file, no ptrace by other users, its
/// `/proc` files owned by root) and sets its core size limit to zero. Returns the
/// error of the first call that failed; the process goes on either way.
pub fn protect_process() -> std::io::Result<()> {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on this process with valid arguments.
    let (dumpable, core) = unsafe {
        (
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0),
            libc::setrlimit(libc::RLIMIT_CORE, &no_core),
        )
    };
    if dumpable != 0 || core != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a system value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

/// A value on pages of its own, locked in memory where allowed, excluded from core
/// dumps, and zeroed when dropped. Neither `Clone` nor `Debug`.
pub struct Locked<T> {
    value: NonNull<T>,
    layout: Layout,
}

// SAFETY: Locked owns its value as a Box would.
unsafe impl<T: Send> Send for Locked<T> {}
// SAFETY: shared access only hands out &T.
unsafe impl<T: Sync> Sync for Locked<T> {}

impl<T> Locked<T> {
    /// Moves `value` onto locked pages. Prefer [`Locked::new_with`] for secrets, which
    /// builds the value in place and leaves no copy on the stack.
    pub fn new(value: T) -> Locked<T> {
        let locked = Locked::<T>::allocate();
        // SAFETY: freshly allocated, aligned for T, and not yet initialised.
        unsafe { locked.value.as_ptr().write(value) };
        locked.lock_pages();
        locked
    }

    fn allocate() -> Locked<T> {
        let page = page_size();
        let size = size_of::<T>().max(1).next_multiple_of(page);
        let layout = Layout::from_size_align(size, page.max(align_of::<T>()))
            .expect("a page-aligned layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(value) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        Locked { value, layout }
    }

    fn lock_pages(&self) {
        let (start, len) = (
            self.value.as_ptr().cast::<libc::c_void>(),
            self.layout.size(),
        );
        // SAFETY: the range is this allocation. Failure (RLIMIT_MEMLOCK, no privilege)
        // leaves the pages swappable but still out of core dumps.
        unsafe {
            libc::madvise(start, len, libc::MADV_DONTDUMP);
            libc::mlock(start, len);
        }
    }
}

impl<E: Copy + Default, const N: usize> Locked<[E; N]> {
    /// An array filled in place by `fill`, starting from default elements.
    pub fn new_with(fill: impl FnOnce(&mut [E; N])) -> Locked<[E; N]> {
        let mut locked = Locked::new([E::default(); N]);
        fill(&mut locked);
        locked
    }
}

impl<T> Deref for Locked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new` and valid until drop.
        unsafe { self.value.as_ref() }
    }
}

impl<T> DerefMut for Locked<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: initialised in `new`, uniquely borrowed through &mut self.
        unsafe { self.value.as_mut() }
    }
}

impl<T> Drop for Locked<T> {
    fn drop(&mut self) {
        let (start, len) = (self.value.as_ptr().cast::<u8>(), self.layout.size());
        // SAFETY: the value was initialised and is dropped once; then the whole
        // allocation is wiped with volatile writes, unlocked and freed.
        unsafe {
            std::ptr::drop_in_place(self.value.as_ptr());
            for i in 0..len {
                std::ptr::write_volatile(start.add(i), 0);
            }
            std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
            libc::munlock(start.cast(), len);
            dealloc(start, self.layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's flags for the memory mapping that holds `address`.
    fn mapping_flags(address: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ').filter(|(r, _)| r.contains('-')) {
                let (start, end) = range.split_once('-').unwrap();
                let (start, end) = (
                    usize::from_str_radix(start, 16).unwrap_or(usize::MAX),
                    usize::from_str_radix(end, 16).unwrap_or(0),
                );
                inside = (start..end).contains(&address);
            } else if let Some(flags) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                return flags.to_string();
            }
        }
        panic!("no mapping holds {address:#x}")
    }

    #[test]
    fn keys_sit_on_locked_pages_left_out_of_core_dumps() {
        let key = Locked::new_with(|k: &mut [u8; 32]| k.fill(0xA5));
        assert_eq!(*key, [0xA5; 32]);
        let address = key.value.as_ptr() as usize;
        assert_eq!(address % page_size(), 0);
        let flags = mapping_flags(address);
        assert!(
            flags.split_whitespace().any(|f| f == "dd"),
            "not dumped: {flags}"
        );
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads this process's limit into `limit`.
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
        if limit.rlim_cur >= 64 * 1024 {
            assert!(
                flags.split_whitespace().any(|f| f == "lo"),
                "locked: {flags}"
            );
        }
    }

    #[test]
    fn protected_process_is_not_dumpable_and_writes_no_core() {
        protect_process().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: plain queries of this process's state.
        let dumpable = unsafe {
            libc::getrlimit(libc::RLIMIT_CORE, &mut limit);
            libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0)
        };
        assert_eq!(dumpable, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
    }
}
