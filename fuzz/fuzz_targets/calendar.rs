#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_release::calendar::Calendar;

// A mirror reads the primary's calendar.json, and the site every calendar.json it
// finds: parsing, writing, the iCalendar form and the check against the log must
// never panic, what parses writes back to the same calendar, and nothing but an empty
// calendar passes the check against an empty log.
fuzz_target!(|data: &[u8]| {
    if let Ok(calendar) = Calendar::read(data) {
        assert_eq!(Calendar::read(&calendar.write()).unwrap(), calendar);
        let ics = calendar.to_ics();
        assert!(ics.split("\r\n").all(|line| line.len() <= 75));
        // Against an empty log, only an empty calendar is true.
        assert!(calendar.releases.is_empty() || calendar.check_against(&[]).is_err());
    }
});
