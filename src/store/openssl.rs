//! SQLCipher encrypts pages with OpenSSL (vendored, linked statically). OpenSSL 3 registers an
//! `atexit` handler on its first use that frees its global state when the process exits, while
//! other threads may still be inside SQLCipher (the upkeep thread, a reader closing its
//! connection): those threads then touch freed memory, and the process ends with SIGSEGV
//! instead of its exit code. Initialising OpenSSL first with `OPENSSL_INIT_NO_ATEXIT` leaves
//! its state to the operating system at exit, as rust-openssl's own `init` does.

use std::sync::Once;

/// `OPENSSL_INIT_NO_ATEXIT` of `openssl/crypto.h` (OpenSSL 1.1.1b and later).
const OPENSSL_INIT_NO_ATEXIT: u64 = 0x0008_0000;

unsafe extern "C" {
    // libcrypto, linked through libsqlite3-sys's vendored openssl-sys.
    fn OPENSSL_init_crypto(opts: u64, settings: *const std::ffi::c_void) -> std::ffi::c_int;
}

/// Initialises OpenSSL without its exit handler; call before the first database is opened
/// (later calls do nothing). Whichever initialisation comes first decides, so this must run
/// before SQLCipher's first use of OpenSSL.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: a documented OpenSSL entry point, called once with no settings; it only
        // sets up OpenSSL's global state. A failure leaves OpenSSL to initialise itself later
        // (with the exit handler): nothing is unsound either way.
        unsafe {
            OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, std::ptr::null());
        }
    });
}
