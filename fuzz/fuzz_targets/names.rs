//! `Subject`, `Pattern`, `Key`, `Group`, `Namespace` and the page names on any text: never a
//! panic, and a page name never leaves the page namespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::{
    Group, Key, Namespace, PAGE_PREFIX, PagePattern, PageSubject, Pattern, Subject,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let subject = Subject::new(text);
    let pattern = Pattern::new(text);
    if let Ok(subject) = &subject {
        let pattern = pattern.as_ref().expect("every subject is a pattern");
        assert!(pattern.matches(subject), "a subject matches itself");
    }
    let _ = (Key::new(text), Group::new(text), Namespace::new(text));
    if let Ok(page) = PageSubject::new(text) {
        assert!(subject.is_ok() && page.as_str().starts_with(PAGE_PREFIX));
    }
    if let Ok(page) = PagePattern::new(text) {
        let rest = &page.as_str()[PAGE_PREFIX.len()..];
        assert!(!rest.is_empty() && page.as_str().starts_with(PAGE_PREFIX));
        // Whatever it matches is in the namespace too.
        for probe in ["switchboard.chat.chat", "switchboard.firehose", "other.app"] {
            let probe = Subject::new(probe).unwrap();
            assert!(!page.pattern().matches(&probe), "{page} matched {probe}");
        }
    }
});
