//! Names on the wire, built the way Go psrpc's generator builds them.

/// A service or method name as Go psrpc puts it on the wire: the `.proto`
/// name CamelCased by protobuf-go's rule (`my_svc` → `MySvc`, `do_thing` →
/// `DoThing`).
///
/// Words start at an underscore followed by a lowercase letter (the
/// underscore is dropped) or at an uppercase letter; a word's first letter
/// is capitalised; digits are copied and the letter after one starts a
/// word; any other underscore is kept; a leading underscore becomes `X`. Names already in CamelCase stay as they are.
///
/// ```
/// use psrpc_codegen::go_camel_case;
///
/// assert_eq!(go_camel_case("do_thing"), "DoThing");
/// assert_eq!(go_camel_case("SIPGet"), "SIPGet");
/// assert_eq!(go_camel_case("v2_stats_3d"), "V2Stats_3D");
/// assert_eq!(go_camel_case("_private"), "XPrivate");
/// ```
pub fn go_camel_case(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len() + 1);
    let mut i = 0;
    if bytes.first() == Some(&b'_') {
        out.push('X');
        i = 1;
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'_' && bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase) {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        if !c.is_ascii() {
            // Not a proto identifier character; copied as it is.
            let ch = name[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        out.push(char::from(c.to_ascii_uppercase()));
        i += 1;
        while let Some(&next) = bytes.get(i).filter(|b| b.is_ascii_lowercase()) {
            out.push(char::from(next));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::go_camel_case;

    /// Expected names worked out by hand from protobuf-go's `CamelCase`.
    #[test]
    fn camel_cases_like_go() {
        let cases = [
            ("my_svc", "MySvc"),
            ("do_thing", "DoThing"),
            ("MyService", "MyService"),
            ("IOInfoSIP", "IOInfoSIP"),
            ("getSIPTrunk", "GetSIPTrunk"),
            ("get_2fa_code", "Get_2FaCode"),
            ("v2_stats_3d", "V2Stats_3D"),
            ("stats2go", "Stats2Go"),
            ("_private", "XPrivate"),
            ("a__b", "A_B"),
            ("trailing_", "Trailing_"),
            ("UPPER_CASE", "UPPER_CASE"),
            ("x", "X"),
            ("", ""),
        ];
        for (proto, go) in cases {
            assert_eq!(go_camel_case(proto), go, "{proto}");
        }
    }
}
