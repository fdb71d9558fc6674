//! Panics a caller has chosen to contain: a third-party decoder fed with
//! bytes from outside (Z-API's QR image) runs under [`contain`], and the
//! dashboard's panic hook, which otherwise restores the terminal and ends
//! the process, lets such a panic unwind to the caller instead. A leaf:
//! every layer may use it.

use std::cell::Cell;
use std::panic::{self, UnwindSafe};

thread_local! {
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it is `None`, not the end of the process.
pub fn contain<T>(f: impl FnOnce() -> T + UnwindSafe) -> Option<T> {
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = panic::catch_unwind(f);
    CONTAINED.with(|c| c.set(outer));
    result.ok()
}

/// Whether the current thread runs inside [`contain`] (the panic hook
/// asks: a contained panic must not end the process).
pub fn contained() -> bool {
    CONTAINED.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_none_and_the_flag_is_only_set_inside() {
        assert!(!contained());
        assert_eq!(contain(contained), Some(true));
        assert!(!contained());
        // (the default hook prints this one expected panic; the process goes on)
        let caught: Option<()> = contain(|| panic!("a decoder gave up"));
        assert_eq!(caught, None);
        assert!(!contained(), "reset after a panic too");
        assert_eq!(contain(|| contain(|| 1)), Some(Some(1)));
    }
}
