//! A float vector handed over as JSON array text, checked by one pass over
//! its bytes: the array's syntax, every element a JSON number, how many
//! there are, and each one's magnitude within f32's range. No float is
//! built unless its magnitude is near f32::MAX, so the check costs a fraction
//! of parsing the vector (which would also need a `Vec<f64>`).

/// Why a vector's text was refused.
#[derive(Debug, PartialEq)]
pub(super) enum VectorTextError {
    /// Not a JSON array of numbers; says what was found where.
    Syntax(String),
    /// Element `index` is `value`, beyond f32's range.
    OutOfRange { index: usize, value: f64 },
}

/// Scans `text`, a JSON array of numbers, and returns how many elements it
/// has. Accepts exactly what `serde_json::from_str::<Vec<f64>>` accepts,
/// and refuses an element whose magnitude exceeds `f32::MAX`.
pub(super) fn scan(text: &str) -> Result<usize, VectorTextError> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return Err(syntax(b, i, "expected `[`"));
    }
    i = skip_ws(b, i + 1);
    let mut count = 0;
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            i = number(b, i, count)?;
            count += 1;
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return Err(syntax(b, i, "expected `,` or `]`")),
            }
        }
    }
    i = skip_ws(b, i);
    if i != b.len() {
        return Err(syntax(b, i, "trailing characters"));
    }
    Ok(count)
}

/// JSON whitespace only (not Unicode's).
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// One JSON number from `start`; returns where it ends.
fn number(b: &[u8], start: usize, index: usize) -> Result<usize, VectorTextError> {
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    // The integer part: `0` or a digit 1-9 and more digits.
    let int_start = i;
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return Err(syntax(b, i, "expected a number")),
    }
    let int_digits = if b[int_start] == b'0' {
        0
    } else {
        i - int_start
    };
    if b.get(i) == Some(&b'.') {
        let frac = i + 1;
        i = digits(b, frac);
        if i == frac {
            return Err(syntax(b, i, "expected a digit after `.`"));
        }
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let first = i;
        i = digits(b, first);
        if i == first {
            return Err(syntax(b, i, "expected a digit in the exponent"));
        }
        for d in &b[first..i] {
            // Saturates: past a million digits of exponent the answer is
            // the same (out of range, or zero).
            exp = (exp * 10 + i64::from(d - b'0')).min(1_000_000);
        }
        if negative {
            exp = -exp;
        }
    }
    // |value| < 10^(int_digits + exp): at most 10^38 is below f32::MAX
    // (3.4e38). Above that, parse the few numbers that come near.
    if int_digits as i64 + exp > 38 {
        let token = std::str::from_utf8(&b[start..i]).expect("ASCII digits and signs");
        let value: f64 = token.parse().unwrap_or(f64::INFINITY);
        if !value.is_finite() || value.abs() > f64::from(f32::MAX) {
            return Err(VectorTextError::OutOfRange { index, value });
        }
    }
    Ok(i)
}

fn syntax(b: &[u8], i: usize, what: &str) -> VectorTextError {
    let found = match b.get(i) {
        None => "the end".to_string(),
        Some(_) => {
            // Up to 12 characters from `i`, cut on a character boundary.
            let rest = String::from_utf8_lossy(&b[i..]);
            let shown: String = rest.chars().take(12).collect();
            format!("`{shown}`")
        }
    };
    VectorTextError::Syntax(format!("{what} at character {}, found {found}", i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json would say of the same text, as this scan's answer.
    fn reference(text: &str) -> Result<usize, ()> {
        let values: Vec<f64> = serde_json::from_str(text).map_err(|_| ())?;
        match values
            .iter()
            .position(|x| !x.is_finite() || x.abs() > f64::from(f32::MAX))
        {
            Some(_) => Err(()),
            None => Ok(values.len()),
        }
    }

    fn agrees(text: &str) {
        assert_eq!(scan(text).map_err(|_| ()), reference(text), "{text:?}");
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        for text in [
            "[]",
            " [ ] ",
            "[0]",
            "[-0]",
            "[1,2,3]",
            "\n[ 0.25 ,\t-1 , 3e-2 ]\r\n",
            "[1.5E+3, 2e-300, -0.0, 123456789012345678901234567890]",
            "[3.4028234663852886e38]",
            "[3.4028236e38]",
            "[-3.4028234663852886e38]",
            "[1e39]",
            "[1e38]",
            "[99999999999999999999999999999999999999]",
            "[999999999999999999999999999999999999999]",
            "[0.0000000000000000000000000000000000000000000000001e88]",
            "[1e-99999999999999999999]",
            "[1e99999999999999999999]",
            "[1,]",
            "[,1]",
            "[01]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[1e]",
            "[1e+]",
            "[-]",
            "[NaN]",
            "[Infinity]",
            "[\"1\"]",
            "[null]",
            "[[1]]",
            "[1 2]",
            "[1]x",
            "[1][2]",
            "",
            "1",
            "[",
            "[1",
            "{\"a\":1}",
            "[1\u{a0}]",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn agrees_with_serde_json_on_random_texts() {
        // Texts built from the characters numbers are made of, so most are
        // near misses of valid vectors.
        let alphabet = b"0123456789-+.eE, []0123456789";
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 16) as usize;
            let mut text = String::from("[");
            for _ in 0..len {
                text.push(alphabet[(next() % alphabet.len() as u64) as usize] as char);
            }
            if next() % 2 == 0 {
                text.push(']');
            }
            agrees(&text);
        }
    }

    #[test]
    fn counts_and_names_the_problem() {
        assert_eq!(scan("[0.5, 1, -2e3]"), Ok(3));
        assert_eq!(
            scan("[0.5, 1e39]"),
            Err(VectorTextError::OutOfRange {
                index: 1,
                value: 1e39
            })
        );
        assert_eq!(
            scan("[0.5, \"a\"]"),
            Err(VectorTextError::Syntax(
                "expected a number at character 7, found `\"a\"]`".into()
            ))
        );
        assert_eq!(
            scan("[0.5, 1"),
            Err(VectorTextError::Syntax(
                "expected `,` or `]` at character 8, found the end".into()
            ))
        );
    }
}
