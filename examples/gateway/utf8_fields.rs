//! Urlencoded fields must decode to valid UTF-8: the standard decoders replace bad bytes with
//! U+FFFD, which would store text the visitor never sent. Self-contained, so the fuzz targets
//! compile this very file.

/// A field whose name or value is not valid UTF-8 once percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotUtf8 {
    /// The field's name, lossily decoded for the message.
    pub(crate) field: String,
}

/// Checks every `name=value` pair of an `application/x-www-form-urlencoded` string (a query
/// string or a form body); `+` is a space and `%XX` a byte, as in the standard.
pub(crate) fn check(raw: &[u8]) -> Result<(), NotUtf8> {
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(name);
        if std::str::from_utf8(&name).is_err() || std::str::from_utf8(&decode(value)).is_err() {
            return Err(NotUtf8 {
                field: String::from_utf8_lossy(&name).into_owned(),
            });
        }
    }
    Ok(())
}

fn decode(part: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_fields_pass() {
        assert_eq!(check(b"a=1&b=caf%C3%A9+au+lait&c&&d="), Ok(()));
        assert_eq!(check("k=\u{e9}t\u{e9}".as_bytes()), Ok(()));
    }

    #[test]
    fn the_bad_field_is_named() {
        let err = |raw: &[u8]| check(raw).unwrap_err().field;
        assert_eq!(err(b"ok=1&payload=%FF%FE"), "payload");
        assert_eq!(err(b"topic=\xC3"), "topic");
        assert_eq!(err(b"na%FFme=1"), "na\u{fffd}me");
    }
}
