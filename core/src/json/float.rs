//! Decimal text to `f64`, correctly rounded: the readers' one float parser.
//!
//! Two implementations with the same results (both are correctly rounded, so every text gives the
//! same double; a property test below compares them on random and hard cases):
//!
//! * with the `fast-floats` feature (the gateway): `str::parse::<f64>`, whose Eisel-Lemire path
//!   is fast but brings a 10 KiB table of powers of five;
//! * without it (both WASM modules, where size matters more than the speed of reading the rare
//!   number that is neither a small decimal nor exact by Clinger's fast path, which the reader
//!   tries first): `minimal-lexical`'s `compact` parser
//!   (Bellerophon with small tables, then exact big-integer arithmetic when that cannot decide),
//!   about 9 KiB gzipped smaller in the module (BENCHMARKS.md).
//!
//! The grammar is `str::parse`'s, less infinity and NaN (which every caller refuses):
//! `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.

/// Whether `f` has no fractional part: `f.fract() == 0.0` (false for NaN and the infinities),
/// without `fract`, which needs libm's `trunc` (std only; the WASM client module is `no_std`): a
/// round trip through `i64`, exact below 2^52 (above, every double is integral). One way for
/// every build; the tests below compare it with `fract` on edges and on any double.
#[inline]
pub(crate) fn is_integral(f: f64) -> bool {
    // Casts saturate (never wrap) and only values below 2^52 in magnitude take this branch.
    #[allow(clippy::cast_possible_truncation)]
    let integral = f.is_finite() && (f.abs() >= 4_503_599_627_370_496.0 || (f as i64) as f64 == f);
    integral
}

/// The double nearest to `text` (ties to even), or `None` when `text` is not a decimal number in
/// the grammar above. Out-of-range magnitudes give an infinity or zero, as `str::parse` does.
#[cfg(feature = "fast-floats")]
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    text.parse().ok()
}

/// The double nearest to `text` (ties to even), or `None` when `text` is not a decimal number in
/// the grammar above. Out-of-range magnitudes give an infinity or zero, as `str::parse` does.
#[cfg(not(feature = "fast-floats"))]
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    compact_parse_f64(text)
}

/// `minimal-lexical`'s compact parser behind `str::parse`'s grammar (see the module docs).
#[cfg(any(test, not(feature = "fast-floats")))]
pub(crate) fn compact_parse_f64(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (integer, rest) = rest.split_at(int_len);
    let (fraction, rest) = match rest.split_first() {
        Some((b'.', after)) => {
            let len = after.iter().take_while(|b| b.is_ascii_digit()).count();
            after.split_at(len)
        }
        _ => (&b""[..], rest),
    };
    if integer.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', after)) => {
            let (exp_negative, digits) = match after.split_first() {
                Some((b'-', digits)) => (true, digits),
                Some((b'+', digits)) => (false, digits),
                _ => (false, after),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            // Saturates: past about ±1e5 every mantissa rounds to zero or infinity anyway (a
            // mantissa's own digits are at most the text's length, bounded far below i32).
            let magnitude = digits.iter().fold(0i32, |e, d| {
                e.saturating_mul(10).saturating_add(i32::from(d - b'0'))
            });
            if exp_negative { -magnitude } else { magnitude }
        }
        Some(_) => return None,
    };
    // minimal-lexical wants the integer without leading zeros and the fraction without trailing
    // zeros.
    let leading = integer.iter().take_while(|&&b| b == b'0').count();
    let integer = integer.get(leading..).unwrap_or_default();
    let trailing = fraction.iter().rev().take_while(|&&b| b == b'0').count();
    let fraction = fraction
        .get(..fraction.len() - trailing)
        .unwrap_or_default();
    let value: f64 = if integer.is_empty() && fraction.is_empty() {
        0.0
    } else {
        minimal_lexical::parse_float(integer.iter(), fraction.iter(), exponent)
    };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::compact_parse_f64;
    use proptest::prelude::*;

    /// The integral check agrees with `fract`, on the edges and on random doubles.
    #[test]
    fn is_integral_is_fract() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            -4_503_599_627_370_495.5,
            9_007_199_254_740_993.0,
            9.223_372_036_854_775e18,
            -9.223_372_036_854_776e18,
            1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for f in edges {
            assert_eq!(super::is_integral(f), f.fract() == 0.0, "{f:?}");
        }
    }

    proptest! {
        #[test]
        fn is_integral_is_fract_on_any_double(bits in any::<u64>(), int in any::<i64>()) {
            let f = f64::from_bits(bits);
            prop_assert_eq!(super::is_integral(f), f.fract() == 0.0);
            let g = int as f64 / 4.0;
            prop_assert_eq!(super::is_integral(g), g.fract() == 0.0);
        }
    }

    /// Both parsers agree on `text`, bit for bit (or both refuse it).
    fn same(text: &str) {
        let want = text.parse::<f64>().ok();
        let got = compact_parse_f64(text);
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{text:?}");
    }

    #[test]
    fn hard_cases_match_str_parse() {
        for text in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "00.00e5",
            "1",
            "+1",
            "-1",
            ".5",
            "5.",
            "-.5",
            "+.5e1",
            "1e5",
            "1E5",
            "1e+5",
            "1e-5",
            "1.5e308",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2e308",
            "-2e308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-400",
            "-1e-400",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "9007199254740993",
            "9007199254740992.5",
            "9007199254740993.0000000000000000001",
            "123456789012345678901234567890",
            "0.1",
            "0.2",
            "0.30000000000000004",
            "3.14159",
            "1e2147483647",
            "1e2147483648",
            "1e-2147483648",
            "1e-99999999999",
            "0e99999999999",
            "8.98846567431158e307",
            "1448997445238699",
            "7.2057594037927933e16",
            "2.225073858507201136057409796709131975934819546351645648023426109724822222021076945516529523908135087914149158913039621106870086438694594645527657207407820621743379988141063267329253552286881372149012981122451451889849057222307285255133155755015914397476397983411801999323962548289017107081850690630666655994938275772572015763062690663332647565300009245888316433037779791869612049497390377829704905051080609940730262937128958950003583799967207254304360284078895771796150945516748243471030702609144621572289880258182545180325707018860872113128079512233426288368622321503775666622503982534335974568884423900265498198385487948292206894721689831099698365846814022854243330660339850886445804001034933970427567186443383770486037861622771738545623065874679014086723327636718751234567890123456789012345678901e-308",
            "",
            "+",
            "-",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.e",
            "1.5x",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "1.2.3",
            "--1",
            "+-1",
        ] {
            same(text);
        }
        let long = format!("0.{}1", "0".repeat(800));
        same(&long);
        let long = format!("1{}e-900", "0".repeat(900));
        same(&long);
    }

    /// The compact parser's fast path multiplies by `10^k` from its own `pow` (k up to 22, plus
    /// "disguised" exponents up to 37): every one of those must be exact.
    #[test]
    fn powers_of_ten_match_str_parse() {
        for k in -40..=40 {
            for mantissa in ["1", "3", "7", "9007199254740991", "123456789", "4.5", "0.3"] {
                same(&format!("{mantissa}e{k}"));
                same(&format!("-{mantissa}e{k}"));
            }
        }
    }

    proptest! {
        #[test]
        fn random_doubles_round_trip(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            for text in [format!("{v:?}"), format!("{v:e}"), format!("{v:.17e}"), format!("{v}")] {
                same(&text);
            }
        }

        #[test]
        fn random_decimal_texts_match(
            int in "[0-9]{0,25}",
            frac in proptest::option::of("[0-9]{0,40}"),
            exp in proptest::option::of(-400i32..400),
            sign in "[-+]?",
        ) {
            let mut text = format!("{sign}{int}");
            if let Some(frac) = frac {
                text.push('.');
                text.push_str(&frac);
            }
            if let Some(exp) = exp {
                text.push_str(&format!("e{exp}"));
            }
            same(&text);
        }
    }
}
