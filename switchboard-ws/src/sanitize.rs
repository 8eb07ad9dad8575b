//! Cleaning names that come from the outside.

use crate::WsError;

/// Trims `raw`, strips control characters (newlines, escapes, NUL…) and caps it at `max_chars`
/// characters. Returns `None` when nothing printable is left.
///
/// ```
/// use switchboard_ws::clean_name;
/// assert_eq!(clean_name("  al\u{7}ice\n ", 32).as_deref(), Some("alice"));
/// assert_eq!(clean_name("bobbybobby", 3).as_deref(), Some("bob"));
/// assert_eq!(clean_name(" \t\r\n", 32), None);
/// ```
pub fn clean_name(raw: &str, max_chars: usize) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max_chars)
        .collect();
    let cleaned = cleaned.trim_end().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A sanitised username: [`clean_name`], or a generated `guest-xxxxxx` when nothing is left.
///
/// ```
/// use switchboard_ws::username_or_guest;
/// assert_eq!(username_or_guest(Some(" alice "), 32), "alice");
/// assert!(username_or_guest(None, 32).starts_with("guest-"));
/// assert!(username_or_guest(Some("\u{1b}[2J"), 32).starts_with("[2J"));
/// ```
pub fn username_or_guest(raw: Option<&str>, max_chars: usize) -> String {
    raw.and_then(|raw| clean_name(raw, max_chars))
        .unwrap_or_else(guest_name)
}

/// A generated name such as `guest-3f9a1c`.
pub fn guest_name() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("guest-{}", &id[id.len() - 6..])
}

/// Cleans a room name for the hub; an empty or over-long one is an error.
pub(crate) fn room_name(raw: &str, max_chars: usize) -> Result<String, WsError> {
    let cleaned = clean_name(raw, usize::MAX).ok_or(WsError::EmptyRoom)?;
    let chars = cleaned.chars().count();
    if chars > max_chars {
        return Err(WsError::RoomTooLong {
            chars,
            limit: max_chars,
        });
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_cleaned_and_bounded() {
        assert_eq!(room_name(" lobby\n", 64).unwrap(), "lobby");
        assert!(matches!(room_name("\n\t", 64), Err(WsError::EmptyRoom)));
        assert!(matches!(
            room_name(&"r".repeat(65), 64),
            Err(WsError::RoomTooLong { chars: 65, .. })
        ));
    }

    #[test]
    fn guest_names_differ() {
        assert_ne!(guest_name(), guest_name());
    }
}
