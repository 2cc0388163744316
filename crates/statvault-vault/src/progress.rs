/// Reports long work as it goes. The binary draws a progress bar; libraries and tests
/// pass `NoProgress`.
pub trait Progress: Sync {
    /// Starts a phase of `total` units (bytes or objects).
    fn start(&self, _what: &str, _total: u64) {}
    /// `units` more of the phase are done.
    fn advance(&self, _units: u64) {}
    /// A problem that does not stop the work (a skipped file, say).
    fn warn(&self, _message: &str) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
