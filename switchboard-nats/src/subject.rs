//! [`to_client`]: a [`Subject`] as the client's subject type, for every send.

use std::cell::RefCell;

use switchboard_core::Subject;

thread_local! {
    /// The subject this thread sent to last, in both forms. A sender mostly repeats its
    /// subjects, and the conversion cost two allocations and two copies per message (the
    /// client copies a `String` subject once more) where the raw client pays an atomic add.
    static LAST: RefCell<Option<(Subject, async_nats::Subject)>> = const { RefCell::new(None) };
}

/// `subject` as an [`async_nats::Subject`], shared with the previous send to the same subject
/// from this thread.
pub(crate) fn to_client(subject: &Subject) -> async_nats::Subject {
    LAST.with_borrow_mut(|last| match last {
        Some((ours, theirs)) if ours == subject => theirs.clone(),
        _ => {
            let theirs = async_nats::Subject::from(subject.as_str());
            *last = Some((subject.clone(), theirs.clone()));
            theirs
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_subject_shares_its_bytes() {
        let a = Subject::new("orders.created").unwrap();
        let first = to_client(&a);
        let again = to_client(&Subject::new("orders.created").unwrap());
        assert_eq!(again.as_str(), "orders.created");
        assert_eq!(first.as_str().as_ptr(), again.as_str().as_ptr());
        let b = to_client(&Subject::new("orders.deleted").unwrap());
        assert_eq!(b.as_str(), "orders.deleted");
        assert_eq!(to_client(&a).as_str(), "orders.created");
    }
}
