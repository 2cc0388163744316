/// Reports long work as it goes. The binary draws a progress bar; libraries and tests
/// pass `NoProgress`.
pub trait Progress: Sync {
    /// Starts a phase of `total` units (bytes or objects).
    fn start(&self, _what: &str, _total: u64) {}
    fn advance(&self, _units: u64) {}
    /// A problem that does not stop the work (a skipped file, say).
    fn warn(&self, _message: &str) {}
    fn finish(&self) {}
}

pub struct NoProgress;

impl Progress for NoProgress {}
