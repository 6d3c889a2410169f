//! LOT and serial numbers (SPEC §3 "Numbers").
//!
//! A LOT number reads `{prefix}-{plant}-{YYMMDD}{shift}-{seq:03}` (e.g. `FN-KR-251109D-001`) and a
//! serial number appends `-{seq:04}` (e.g. `FN-KR-251109D-001-0001`). Numbers are scanned at
//! stations, so parsing is strict: only the exact canonical spelling is accepted, and every
//! rejection says which part is wrong. Sequences never wrap: the 1000th LOT of a shift and the
//! 10000th serial of a LOT are errors.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Highest LOT sequence within one (plant, date, shift).
pub const MAX_LOT_SEQ: u16 = 999;
/// Highest serial sequence within one LOT.
pub const MAX_SERIAL_SEQ: u16 = 9999;

const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2099;

/// Why a number could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A LOT number string does not have the canonical form.
    #[error("invalid LOT number: {reason}")]
    InvalidLotFormat { reason: &'static str },
    /// A serial number string does not have the canonical form (including a bad LOT part).
    #[error("invalid serial number: {reason}")]
    InvalidSerialFormat { reason: &'static str },
    /// A LOT prefix that is not 2–4 upper-case ASCII letters.
    #[error("invalid LOT prefix {value:?}: must be 2-4 upper-case letters")]
    InvalidPrefix { value: String },
    /// A plant code that is not exactly 2 upper-case ASCII letters.
    #[error("invalid plant code {value:?}: must be 2 upper-case letters")]
    InvalidPlantCode { value: String },
    /// A production date outside the years a `YYMMDD` number can express (2000–2099).
    #[error("production date {date} is outside 2000-01-01..=2099-12-31")]
    InvalidDate { date: NaiveDate },
    /// A shift code other than `D` or `N`.
    #[error("invalid shift {value:?}: must be D or N")]
    InvalidShift { value: String },
    /// The LOT sequence of a shift ran past 999.
    #[error("LOT sequence {seq} exceeds {MAX_LOT_SEQ}: no more LOTs can be created in this shift")]
    LotSequenceExhausted { seq: u16 },
    /// The serial sequence of a LOT ran past 9999.
    #[error(
        "serial sequence {seq} exceeds {MAX_SERIAL_SEQ}: no more serials can be created in this LOT"
    )]
    SerialSequenceExhausted { seq: u16 },
    /// Sequences start at 1.
    #[error("sequence numbers start at 1")]
    InvalidSequence,
}

impl NumberError {
    /// Stable machine-readable code, used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidLotFormat { .. } => "INVALID_LOT_FORMAT",
            Self::InvalidSerialFormat { .. } => "INVALID_SERIAL_FORMAT",
            Self::InvalidPrefix { .. } => "INVALID_PREFIX",
            Self::InvalidPlantCode { .. } => "INVALID_PLANT_CODE",
            Self::InvalidDate { .. } => "INVALID_DATE",
            Self::InvalidShift { .. } => "INVALID_SHIFT",
            Self::LotSequenceExhausted { .. } => "LOT_SEQUENCE_EXHAUSTED",
            Self::SerialSequenceExhausted { .. } => "SERIAL_SEQUENCE_EXHAUSTED",
            Self::InvalidSequence => "INVALID_SEQUENCE",
        }
    }
}

fn is_upper_letters(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// The leading part of a LOT number: 2–4 upper-case letters, configured per plant (default `FN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LotPrefix(String);

impl LotPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LotPrefix {
    fn default() -> Self {
        Self("FN".to_owned())
    }
}

impl TryFrom<String> for LotPrefix {
    type Error = NumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_upper_letters(&value, 2, 4) {
            Ok(Self(value))
        } else {
            Err(NumberError::InvalidPrefix { value })
        }
    }
}

impl FromStr for LotPrefix {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<LotPrefix> for String {
    fn from(value: LotPrefix) -> Self {
        value.0
    }
}

impl fmt::Display for LotPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plant's two-letter code, e.g. `KR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlantCode(String);

impl PlantCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlantCode {
    type Error = NumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_upper_letters(&value, 2, 2) {
            Ok(Self(value))
        } else {
            Err(NumberError::InvalidPlantCode { value })
        }
    }
}

impl FromStr for PlantCode {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<PlantCode> for String {
    fn from(value: PlantCode) -> Self {
        value.0
    }
}

impl fmt::Display for PlantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Production shift; written as `D` or `N` in numbers and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Shift {
    #[serde(rename = "D")]
    Day,
    #[serde(rename = "N")]
    Night,
}

impl Shift {
    /// The one-letter code used in LOT numbers.
    pub fn code(self) -> char {
        match self {
            Self::Day => 'D',
            Self::Night => 'N',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'D' => Some(Self::Day),
            b'N' => Some(Self::Night),
            _ => None,
        }
    }
}

impl FromStr for Shift {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "D" => Ok(Self::Day),
            "N" => Ok(Self::Night),
            _ => Err(NumberError::InvalidShift {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Shift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// A LOT number such as `FN-KR-251109D-001`.
///
/// Ordering follows the fields (prefix, plant, date, shift, sequence).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LotNumber {
    prefix: LotPrefix,
    plant: PlantCode,
    date: NaiveDate,
    shift: Shift,
    seq: u16,
}

impl LotNumber {
    /// Builds a LOT number; `seq` is the 1-based LOT count within (plant, date, shift).
    ///
    /// `seq > 999` is [`NumberError::LotSequenceExhausted`], never a wrap-around.
    pub fn new(
        prefix: LotPrefix,
        plant: PlantCode,
        date: NaiveDate,
        shift: Shift,
        seq: u16,
    ) -> Result<Self, NumberError> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
            return Err(NumberError::InvalidDate { date });
        }
        if seq == 0 {
            return Err(NumberError::InvalidSequence);
        }
        if seq > MAX_LOT_SEQ {
            return Err(NumberError::LotSequenceExhausted { seq });
        }
        Ok(Self {
            prefix,
            plant,
            date,
            shift,
            seq,
        })
    }

    /// The serial number `seq` (1-based) of this LOT; `seq > 9999` is
    /// [`NumberError::SerialSequenceExhausted`].
    pub fn serial(&self, seq: u16) -> Result<SerialNumber, NumberError> {
        if seq == 0 {
            return Err(NumberError::InvalidSequence);
        }
        if seq > MAX_SERIAL_SEQ {
            return Err(NumberError::SerialSequenceExhausted { seq });
        }
        Ok(SerialNumber {
            lot: self.clone(),
            seq,
        })
    }

    pub fn prefix(&self) -> &LotPrefix {
        &self.prefix
    }

    pub fn plant(&self) -> &PlantCode {
        &self.plant
    }

    /// The production date (the date the shift started).
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn shift(&self) -> Shift {
        self.shift
    }

    pub fn seq(&self) -> u16 {
        self.seq
    }

    /// Parses the four `-`-separated parts of a LOT number; the error is the reason.
    fn from_parts(parts: [&str; 4]) -> Result<Self, &'static str> {
        let [prefix, plant, date_shift, seq] = parts;
        if !is_upper_letters(prefix, 2, 4) {
            return Err("prefix must be 2-4 upper-case letters");
        }
        if !is_upper_letters(plant, 2, 2) {
            return Err("plant code must be 2 upper-case letters");
        }
        let ds = date_shift.as_bytes();
        if ds.len() != 7 || !ds[..6].iter().all(u8::is_ascii_digit) {
            return Err("date and shift must be YYMMDD followed by D or N");
        }
        let shift = Shift::from_byte(ds[6]).ok_or("shift must be D or N")?;
        let two = |i: usize| u32::from(ds[i] - b'0') * 10 + u32::from(ds[i + 1] - b'0');
        let year = FIRST_YEAR + i32::try_from(two(0)).map_err(|_| "year out of range")?;
        let date = NaiveDate::from_ymd_opt(year, two(2), two(4))
            .ok_or("date must be a real calendar date")?;
        let seq = parse_digits(seq, 3).ok_or("LOT sequence must be 3 digits")?;
        if seq == 0 {
            return Err("LOT sequence must be 001-999");
        }
        Ok(Self {
            prefix: LotPrefix(prefix.to_owned()),
            plant: PlantCode(plant.to_owned()),
            date,
            shift,
            seq,
        })
    }
}

/// Exactly `width` ASCII digits (no sign, no spaces).
fn parse_digits(s: &str, width: usize) -> Option<u16> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u16, |acc, b| {
        acc.checked_mul(10)?.checked_add(u16::from(b - b'0'))
    })
}

/// Splits `s` on `-` into exactly `N` parts, without allocating for long inputs.
fn split_exact<const N: usize>(s: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut it = s.split('-');
    for slot in &mut out {
        *slot = it.next()?;
    }
    it.next().is_none().then_some(out)
}

impl fmt::Display for LotNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:02}{:02}{:02}{}-{:03}",
            self.prefix,
            self.plant,
            self.date.year() % 100,
            self.date.month(),
            self.date.day(),
            self.shift.code(),
            self.seq
        )
    }
}

impl FromStr for LotNumber {
    type Err = NumberError;

    /// Strict: only the canonical form is accepted (no trimming, no lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_exact::<4>(s).ok_or(NumberError::InvalidLotFormat {
            reason: "expected PREFIX-PLANT-YYMMDDS-NNN",
        })?;
        Self::from_parts(parts).map_err(|reason| NumberError::InvalidLotFormat { reason })
    }
}

impl TryFrom<String> for LotNumber {
    type Error = NumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<LotNumber> for String {
    fn from(value: LotNumber) -> Self {
        value.to_string()
    }
}

/// A serial number such as `FN-KR-251109D-001-0001`: one unit within a LOT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber {
    lot: LotNumber,
    seq: u16,
}

impl SerialNumber {
    pub fn lot(&self) -> &LotNumber {
        &self.lot
    }

    pub fn seq(&self) -> u16 {
        self.seq
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}", self.lot, self.seq)
    }
}

impl FromStr for SerialNumber {
    type Err = NumberError;

    /// Strict: only the canonical form is accepted; any fault, including one in the LOT part, is
    /// [`NumberError::InvalidSerialFormat`] with the reason.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| NumberError::InvalidSerialFormat { reason };
        let [prefix, plant, date_shift, lot_seq, seq] =
            split_exact::<5>(s).ok_or(invalid("expected PREFIX-PLANT-YYMMDDS-NNN-NNNN"))?;
        let lot = LotNumber::from_parts([prefix, plant, date_shift, lot_seq]).map_err(invalid)?;
        let seq = parse_digits(seq, 4).ok_or(invalid("serial sequence must be 4 digits"))?;
        if seq == 0 {
            return Err(invalid("serial sequence must be 0001-9999"));
        }
        Ok(Self { lot, seq })
    }
}

impl TryFrom<String> for SerialNumber {
    type Error = NumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<SerialNumber> for String {
    fn from(value: SerialNumber) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn lot(seq: u16) -> LotNumber {
        LotNumber::new(
            LotPrefix::default(),
            "KR".parse().unwrap(),
            date(2025, 11, 9),
            Shift::Day,
            seq,
        )
        .unwrap()
    }

    #[test]
    fn formats_the_spec_examples() {
        assert_eq!(lot(1).to_string(), "FN-KR-251109D-001");
        assert_eq!(
            lot(1).serial(1).unwrap().to_string(),
            "FN-KR-251109D-001-0001"
        );
        assert_eq!(
            lot(999).serial(9999).unwrap().to_string(),
            "FN-KR-251109D-999-9999"
        );
    }

    #[test]
    fn parses_the_spec_examples() {
        let l: LotNumber = "FN-KR-251109D-001".parse().unwrap();
        assert_eq!(l.prefix().as_str(), "FN");
        assert_eq!(l.plant().as_str(), "KR");
        assert_eq!(l.date(), date(2025, 11, 9));
        assert_eq!(l.shift(), Shift::Day);
        assert_eq!(l.seq(), 1);

        let s: SerialNumber = "ABCD-US-000229N-042-0137".parse().unwrap();
        assert_eq!(s.lot().prefix().as_str(), "ABCD");
        assert_eq!(s.lot().date(), date(2000, 2, 29));
        assert_eq!(s.lot().shift(), Shift::Night);
        assert_eq!(s.lot().seq(), 42);
        assert_eq!(s.seq(), 137);
    }

    #[test]
    fn sequences_never_wrap() {
        let err = LotNumber::new(
            LotPrefix::default(),
            "KR".parse().unwrap(),
            date(2025, 11, 9),
            Shift::Night,
            MAX_LOT_SEQ + 1,
        )
        .unwrap_err();
        assert_eq!(err, NumberError::LotSequenceExhausted { seq: 1000 });
        assert_eq!(err.code(), "LOT_SEQUENCE_EXHAUSTED");

        let err = lot(1).serial(MAX_SERIAL_SEQ + 1).unwrap_err();
        assert_eq!(err.code(), "SERIAL_SEQUENCE_EXHAUSTED");

        assert_eq!(lot(1).serial(0).unwrap_err().code(), "INVALID_SEQUENCE");
        let err = LotNumber::new(
            LotPrefix::default(),
            "KR".parse().unwrap(),
            date(2025, 11, 9),
            Shift::Day,
            0,
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_SEQUENCE");
    }

    #[test]
    fn dates_must_fit_yymmdd() {
        for d in [date(1999, 12, 31), date(2100, 1, 1)] {
            let err = LotNumber::new(
                LotPrefix::default(),
                "KR".parse().unwrap(),
                d,
                Shift::Day,
                1,
            )
            .unwrap_err();
            assert_eq!(err.code(), "INVALID_DATE");
        }
        for d in [date(2000, 1, 1), date(2099, 12, 31)] {
            let l = LotNumber::new(
                LotPrefix::default(),
                "KR".parse().unwrap(),
                d,
                Shift::Day,
                1,
            )
            .unwrap();
            assert_eq!(l.to_string().parse::<LotNumber>().unwrap(), l);
        }
    }

    #[test]
    fn newtypes_validate() {
        for ok in ["FN", "ABC", "ABCD"] {
            assert_eq!(ok.parse::<LotPrefix>().unwrap().to_string(), ok);
        }
        for bad in ["", "F", "ABCDE", "fn", "F1", "FÑ", " FN"] {
            assert_eq!(
                bad.parse::<LotPrefix>().unwrap_err().code(),
                "INVALID_PREFIX"
            );
        }
        assert_eq!("KR".parse::<PlantCode>().unwrap().as_str(), "KR");
        for bad in ["", "K", "KRA", "kr", "K1", "K-"] {
            assert_eq!(
                bad.parse::<PlantCode>().unwrap_err().code(),
                "INVALID_PLANT_CODE"
            );
        }
        assert_eq!("D".parse::<Shift>().unwrap(), Shift::Day);
        assert_eq!("N".parse::<Shift>().unwrap(), Shift::Night);
        assert_eq!(Shift::Night.code(), 'N');
        for bad in ["", "d", "DN", "X"] {
            assert_eq!(bad.parse::<Shift>().unwrap_err().code(), "INVALID_SHIFT");
        }
    }

    #[test]
    fn lot_parse_rejections_say_which_part() {
        let cases = [
            ("FN-KR-251109D", "expected PREFIX-PLANT-YYMMDDS-NNN"),
            (
                "FN-KR-251109D-001-0001",
                "expected PREFIX-PLANT-YYMMDDS-NNN",
            ),
            ("", "expected PREFIX-PLANT-YYMMDDS-NNN"),
            ("fn-KR-251109D-001", "prefix must be 2-4 upper-case letters"),
            (
                "FNXYZ-KR-251109D-001",
                "prefix must be 2-4 upper-case letters",
            ),
            (
                "FN-KR1-251109D-001",
                "plant code must be 2 upper-case letters",
            ),
            (
                "FN-kr-251109D-001",
                "plant code must be 2 upper-case letters",
            ),
            (
                "FN-KR-20251109D-001",
                "date and shift must be YYMMDD followed by D or N",
            ),
            (
                "FN-KR-25110D-001",
                "date and shift must be YYMMDD followed by D or N",
            ),
            (
                "FN-KR-251109-001",
                "date and shift must be YYMMDD followed by D or N",
            ),
            ("FN-KR-251109X-001", "shift must be D or N"),
            ("FN-KR-251109d-001", "shift must be D or N"),
            ("FN-KR-251131D-001", "date must be a real calendar date"),
            ("FN-KR-250229D-001", "date must be a real calendar date"),
            ("FN-KR-251309D-001", "date must be a real calendar date"),
            ("FN-KR-251109D-01", "LOT sequence must be 3 digits"),
            ("FN-KR-251109D-0001", "LOT sequence must be 3 digits"),
            ("FN-KR-251109D-+01", "LOT sequence must be 3 digits"),
            ("FN-KR-251109D-000", "LOT sequence must be 001-999"),
            (
                " FN-KR-251109D-001",
                "prefix must be 2-4 upper-case letters",
            ),
            ("FN-KR-251109D-001\n", "LOT sequence must be 3 digits"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<LotNumber>().unwrap_err();
            assert_eq!(err, NumberError::InvalidLotFormat { reason }, "{input:?}");
            assert_eq!(err.code(), "INVALID_LOT_FORMAT");
        }
    }

    #[test]
    fn serial_parse_rejections_say_which_part() {
        let cases = [
            (
                "FN-KR-251109D-001",
                "expected PREFIX-PLANT-YYMMDDS-NNN-NNNN",
            ),
            (
                "FN-KR-251109D-001-0001-1",
                "expected PREFIX-PLANT-YYMMDDS-NNN-NNNN",
            ),
            // The superseded v1 format also has five parts; the plant part is the first misfit.
            (
                "FN-KR01-20251110-D-000001",
                "plant code must be 2 upper-case letters",
            ),
            (
                "FN-K-251109D-001-0001",
                "plant code must be 2 upper-case letters",
            ),
            (
                "FN-KR-251131D-001-0001",
                "date must be a real calendar date",
            ),
            ("FN-KR-251109D-000-0001", "LOT sequence must be 001-999"),
            ("FN-KR-251109D-001-001", "serial sequence must be 4 digits"),
            ("FN-KR-251109D-001-A7", "serial sequence must be 4 digits"),
            (
                "FN-KR-251109D-001-0000",
                "serial sequence must be 0001-9999",
            ),
            ("FN-KR-251109D-001-٠٠٠١", "serial sequence must be 4 digits"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<SerialNumber>().unwrap_err();
            assert_eq!(
                err,
                NumberError::InvalidSerialFormat { reason },
                "{input:?}"
            );
            assert_eq!(err.code(), "INVALID_SERIAL_FORMAT");
        }
    }

    #[test]
    fn error_messages_are_readable() {
        let err = "FN-K-251109D-001-0001".parse::<SerialNumber>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid serial number: plant code must be 2 upper-case letters"
        );
        assert_eq!(
            lot(1).serial(10_000).unwrap_err().to_string(),
            "serial sequence 10000 exceeds 9999: no more serials can be created in this LOT"
        );
    }

    #[test]
    fn serde_uses_the_canonical_strings() {
        let s = lot(7).serial(12).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"FN-KR-251109D-007-0012\"");
        assert_eq!(serde_json::from_str::<SerialNumber>(&json).unwrap(), s);
        assert_eq!(
            serde_json::to_string(&lot(7)).unwrap(),
            "\"FN-KR-251109D-007\""
        );
        assert_eq!(serde_json::to_string(&Shift::Night).unwrap(), "\"N\"");
        assert_eq!(serde_json::from_str::<Shift>("\"D\"").unwrap(), Shift::Day);
        assert_eq!(
            serde_json::from_str::<PlantCode>("\"KR\"")
                .unwrap()
                .as_str(),
            "KR"
        );
        assert!(serde_json::from_str::<SerialNumber>("\"FN-KR-251109D-007-0000\"").is_err());
        assert!(serde_json::from_str::<LotPrefix>("\"fn\"").is_err());
        assert!(serde_json::from_str::<Shift>("\"X\"").is_err());
    }

    fn arb_lot() -> impl Strategy<Value = LotNumber> {
        (
            "[A-Z]{2,4}",
            "[A-Z]{2}",
            0u32..36_525,
            any::<bool>(),
            1..=MAX_LOT_SEQ,
        )
            .prop_map(|(prefix, plant, days, night, seq)| {
                let date = date(2000, 1, 1) + chrono::Days::new(u64::from(days));
                let shift = if night { Shift::Night } else { Shift::Day };
                LotNumber::new(
                    prefix.parse().unwrap(),
                    plant.parse().unwrap(),
                    date,
                    shift,
                    seq,
                )
                .unwrap()
            })
    }

    fn arb_serial() -> impl Strategy<Value = SerialNumber> {
        (arb_lot(), 1..=MAX_SERIAL_SEQ).prop_map(|(lot, seq)| lot.serial(seq).unwrap())
    }

    /// Characters a scanner or a typo might produce.
    fn arb_char() -> impl Strategy<Value = char> {
        prop_oneof![
            proptest::char::range('0', '9'),
            proptest::char::range('A', 'Z'),
            proptest::char::range('a', 'z'),
            Just('-'),
            Just(' '),
            Just('\n'),
            Just('+'),
            Just('é'),
            Just('٣'),
            any::<char>(),
        ]
    }

    proptest! {
        #[test]
        fn lot_round_trips(l in arb_lot()) {
            let text = l.to_string();
            prop_assert_eq!(text.parse::<LotNumber>().unwrap(), l);
        }

        #[test]
        fn serial_round_trips(s in arb_serial()) {
            let text = s.to_string();
            prop_assert_eq!(text.len(), s.lot().to_string().len() + 5);
            prop_assert_eq!(text.parse::<SerialNumber>().unwrap(), s);
        }

        /// Replacing one character either yields another canonical serial or an error.
        #[test]
        fn mutated_serial_is_canonical_or_rejected(
            s in arb_serial(),
            at in any::<prop::sample::Index>(),
            c in arb_char(),
        ) {
            let mut chars: Vec<char> = s.to_string().chars().collect();
            let i = at.index(chars.len());
            chars[i] = c;
            let mutated: String = chars.into_iter().collect();
            match mutated.parse::<SerialNumber>() {
                Ok(other) => prop_assert_eq!(other.to_string(), mutated),
                Err(e) => prop_assert_eq!(e.code(), "INVALID_SERIAL_FORMAT"),
            }
        }

        /// Inserting or deleting one character never yields a serial that prints differently.
        #[test]
        fn edited_serial_is_canonical_or_rejected(
            s in arb_serial(),
            at in any::<prop::sample::Index>(),
            c in arb_char(),
            insert in any::<bool>(),
        ) {
            let mut chars: Vec<char> = s.to_string().chars().collect();
            if insert {
                chars.insert(at.index(chars.len() + 1), c);
            } else {
                chars.remove(at.index(chars.len()));
            }
            let edited: String = chars.into_iter().collect();
            if let Ok(other) = edited.parse::<SerialNumber>() {
                prop_assert_eq!(other.to_string(), edited);
            }
        }

        #[test]
        fn any_string_parses_only_if_canonical(text in ".{0,30}") {
            if let Ok(l) = text.parse::<LotNumber>() {
                prop_assert_eq!(l.to_string(), text.clone());
            }
            if let Ok(s) = text.parse::<SerialNumber>() {
                prop_assert_eq!(s.to_string(), text);
            }
        }

        #[test]
        fn lot_shaped_strings_parse_only_if_canonical(
            text in "[A-Za-z]{1,5}-[A-Z]{1,3}-[0-9]{5,7}[DNX]-[0-9]{2,4}(-[0-9]{3,5})?"
        ) {
            if let Ok(l) = text.parse::<LotNumber>() {
                prop_assert_eq!(l.to_string(), text.clone());
            }
            if let Ok(s) = text.parse::<SerialNumber>() {
                prop_assert_eq!(s.to_string(), text);
            }
        }
    }
}
