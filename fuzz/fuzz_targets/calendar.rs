#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_release::calendar::Calendar;
use statvault_release::tlog::LogEntry;

// The site and every mirror build the calendar from the log's entries, and anyone may
// parse a calendar.json: building from any entries that parse, writing, the iCalendar
// form and parsing must never panic, and what is written reads back the same.
fuzz_target!(|data: &[u8]| {
    let entries: Vec<LogEntry> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| LogEntry::read(line).ok())
        .collect();
    let built = Calendar::from_log(entries);
    assert_eq!(Calendar::read(&built.write()).unwrap(), built);
    for calendar in [Some(built), Calendar::read(data).ok()].into_iter().flatten() {
        assert_eq!(Calendar::read(&calendar.write()).unwrap(), calendar);
        let ics = calendar.to_ics();
        assert!(ics.split("\r\n").all(|line| line.len() <= 75));
    }
});
