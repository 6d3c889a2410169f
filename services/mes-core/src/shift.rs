//! Production date and shift of an instant, from the plant's timezone and shift start times.
//!
//! Everything is decided on the plant's local wall clock, because that is what the shift plan on
//! the shop floor says. A night shift that crosses midnight belongs to the date on which it
//! started, so LOTs made at 02:00 carry the previous day's date.
//!
//! Edge case worth knowing: if a shift start falls inside an hour that a DST change repeats, the
//! repeated wall-clock hour is judged again (local time is what counts), so the slot can step back
//! for that hour. With the usual 08:00/20:00 starts this never happens.

use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::numbering::Shift;

/// Why a shift schedule could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    /// Not an IANA timezone name such as `Asia/Seoul`.
    #[error("unknown timezone {value:?}: expected an IANA name such as Asia/Seoul")]
    InvalidTimezone { value: String },
    /// Start times that are malformed or not in order.
    #[error("invalid shift times: {reason}")]
    InvalidShiftTimes { reason: String },
}

impl ShiftError {
    /// Stable machine-readable code, used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTimezone { .. } => "INVALID_TIMEZONE",
            Self::InvalidShiftTimes { .. } => "INVALID_SHIFT_TIMES",
        }
    }
}

/// The production date and shift that an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProductionSlot {
    /// The local date on which the shift started.
    pub date: NaiveDate,
    pub shift: Shift,
}

const DEFAULT_DAY_START: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).expect("valid time");
const DEFAULT_NIGHT_START: NaiveTime = NaiveTime::from_hms_opt(20, 0, 0).expect("valid time");

/// A plant's shift plan: the day shift runs `[day_start, night_start)`, the night shift from
/// `night_start` to the next day's `day_start`, both in the plant's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftSchedule {
    tz: Tz,
    day_start: NaiveTime,
    night_start: NaiveTime,
}

impl Default for ShiftSchedule {
    /// UTC, day shift from 08:00, night shift from 20:00 (SPEC §3 defaults).
    fn default() -> Self {
        Self {
            tz: Tz::UTC,
            day_start: DEFAULT_DAY_START,
            night_start: DEFAULT_NIGHT_START,
        }
    }
}

impl ShiftSchedule {
    /// Requires `day_start < night_start`, so that every local time falls in exactly one shift.
    pub fn new(tz: Tz, day_start: NaiveTime, night_start: NaiveTime) -> Result<Self, ShiftError> {
        if day_start >= night_start {
            return Err(ShiftError::InvalidShiftTimes {
                reason: format!(
                    "day shift start {} must be before night shift start {}",
                    day_start.format("%H:%M:%S"),
                    night_start.format("%H:%M:%S")
                ),
            });
        }
        Ok(Self {
            tz,
            day_start,
            night_start,
        })
    }

    /// Builds a schedule from configuration text: an IANA timezone name and two `HH:MM` times.
    pub fn parse(tz: &str, day_start: &str, night_start: &str) -> Result<Self, ShiftError> {
        let tz = Tz::from_str(tz).map_err(|_| ShiftError::InvalidTimezone {
            value: tz.to_owned(),
        })?;
        Self::new(
            tz,
            parse_hh_mm("day shift start", day_start)?,
            parse_hh_mm("night shift start", night_start)?,
        )
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn day_start(&self) -> NaiveTime {
        self.day_start
    }

    pub fn night_start(&self) -> NaiveTime {
        self.night_start
    }

    /// The production date and shift of an instant, judged on the plant's local wall clock.
    pub fn production_slot(&self, at: DateTime<Utc>) -> ProductionSlot {
        let local = at.with_timezone(&self.tz).naive_local();
        let (date, time) = (local.date(), local.time());
        if time < self.day_start {
            // Before the day shift: still the night shift that started yesterday.
            let date = date.checked_sub_days(Days::new(1)).unwrap_or(date);
            ProductionSlot {
                date,
                shift: Shift::Night,
            }
        } else if time < self.night_start {
            ProductionSlot {
                date,
                shift: Shift::Day,
            }
        } else {
            ProductionSlot {
                date,
                shift: Shift::Night,
            }
        }
    }

    /// Local wall-clock bounds `[start, end)` of a slot; the night shift ends on the next date.
    pub fn local_window(&self, slot: ProductionSlot) -> (NaiveDateTime, NaiveDateTime) {
        match slot.shift {
            Shift::Day => (
                slot.date.and_time(self.day_start),
                slot.date.and_time(self.night_start),
            ),
            Shift::Night => {
                let next = slot
                    .date
                    .checked_add_days(Days::new(1))
                    .unwrap_or(slot.date);
                (
                    slot.date.and_time(self.night_start),
                    next.and_time(self.day_start),
                )
            }
        }
    }
}

/// Exactly `HH:MM`, 24-hour clock.
fn parse_hh_mm(what: &str, text: &str) -> Result<NaiveTime, ShiftError> {
    let invalid = || ShiftError::InvalidShiftTimes {
        reason: format!("{what} {text:?} must be HH:MM (24-hour)"),
    };
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    NaiveTime::from_hms_opt(two(0), two(3), 0).ok_or_else(invalid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn slot(date: &str, shift: Shift) -> ProductionSlot {
        ProductionSlot {
            date: date.parse().unwrap(),
            shift,
        }
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn default_is_utc_08_20() {
        let s = ShiftSchedule::default();
        assert_eq!(s, ShiftSchedule::parse("UTC", "08:00", "20:00").unwrap());
        assert_eq!(s.tz(), Tz::UTC);
        assert_eq!(s.day_start(), hm(8, 0));
        assert_eq!(s.night_start(), hm(20, 0));
    }

    #[test]
    fn utc_boundaries() {
        let s = ShiftSchedule::default();
        let cases = [
            ("2025-11-09T07:59:59Z", slot("2025-11-08", Shift::Night)),
            ("2025-11-09T08:00:00Z", slot("2025-11-09", Shift::Day)),
            ("2025-11-09T19:59:59.999Z", slot("2025-11-09", Shift::Day)),
            ("2025-11-09T20:00:00Z", slot("2025-11-09", Shift::Night)),
            ("2025-11-09T23:59:59Z", slot("2025-11-09", Shift::Night)),
            ("2025-11-10T00:00:00Z", slot("2025-11-09", Shift::Night)),
            ("2026-01-01T03:00:00Z", slot("2025-12-31", Shift::Night)),
            ("2024-03-01T01:00:00Z", slot("2024-02-29", Shift::Night)),
        ];
        for (at, want) in cases {
            assert_eq!(s.production_slot(utc(at)), want, "{at}");
        }
    }

    #[test]
    fn seoul_is_nine_hours_ahead() {
        let s = ShiftSchedule::parse("Asia/Seoul", "08:00", "20:00").unwrap();
        let cases = [
            ("2025-11-09T22:59:59Z", slot("2025-11-09", Shift::Night)), // 07:59 KST on the 10th
            ("2025-11-09T23:00:00Z", slot("2025-11-10", Shift::Day)),   // 08:00 KST
            ("2025-11-10T10:59:59Z", slot("2025-11-10", Shift::Day)),   // 19:59 KST
            ("2025-11-10T11:00:00Z", slot("2025-11-10", Shift::Night)), // 20:00 KST
            ("2025-11-10T15:30:00Z", slot("2025-11-10", Shift::Night)), // 00:30 KST on the 11th
        ];
        for (at, want) in cases {
            assert_eq!(s.production_slot(utc(at)), want, "{at}");
        }
    }

    #[test]
    fn berlin_across_dst_changes() {
        let s = ShiftSchedule::parse("Europe/Berlin", "08:00", "20:00").unwrap();
        let cases = [
            // Spring forward on 2025-03-30 at 01:00Z (02:00 CET -> 03:00 CEST).
            ("2025-03-29T06:59:59Z", slot("2025-03-28", Shift::Night)), // 07:59 CET
            ("2025-03-29T07:00:00Z", slot("2025-03-29", Shift::Day)),   // 08:00 CET
            ("2025-03-29T19:00:00Z", slot("2025-03-29", Shift::Night)), // 20:00 CET
            ("2025-03-30T00:59:59Z", slot("2025-03-29", Shift::Night)), // 01:59:59 CET
            ("2025-03-30T01:00:00Z", slot("2025-03-29", Shift::Night)), // 03:00 CEST
            ("2025-03-30T05:59:59Z", slot("2025-03-29", Shift::Night)), // 07:59 CEST
            ("2025-03-30T06:00:00Z", slot("2025-03-30", Shift::Day)),   // 08:00 CEST
            ("2025-03-30T18:00:00Z", slot("2025-03-30", Shift::Night)), // 20:00 CEST
            // Fall back on 2025-10-26 at 01:00Z (03:00 CEST -> 02:00 CET).
            ("2025-10-25T18:00:00Z", slot("2025-10-25", Shift::Night)), // 20:00 CEST
            ("2025-10-26T00:30:00Z", slot("2025-10-25", Shift::Night)), // 02:30 CEST
            ("2025-10-26T01:30:00Z", slot("2025-10-25", Shift::Night)), // 02:30 CET
            ("2025-10-26T06:59:59Z", slot("2025-10-25", Shift::Night)), // 07:59 CET
            ("2025-10-26T07:00:00Z", slot("2025-10-26", Shift::Day)),   // 08:00 CET
            ("2025-10-26T19:00:00Z", slot("2025-10-26", Shift::Night)), // 20:00 CET
        ];
        for (at, want) in cases {
            assert_eq!(s.production_slot(utc(at)), want, "{at}");
        }
    }

    #[test]
    fn shift_start_inside_the_skipped_hour() {
        // 02:30 does not exist in Berlin on 2025-03-30; the day shift begins when the clock jumps.
        let s = ShiftSchedule::parse("Europe/Berlin", "02:30", "14:30").unwrap();
        assert_eq!(
            s.production_slot(utc("2025-03-30T00:59:59Z")), // 01:59:59 CET
            slot("2025-03-29", Shift::Night)
        );
        assert_eq!(
            s.production_slot(utc("2025-03-30T01:00:00Z")), // 03:00 CEST
            slot("2025-03-30", Shift::Day)
        );
    }

    #[test]
    fn local_window_spans_the_slot() {
        let s = ShiftSchedule::default();
        let day = s.local_window(slot("2025-11-09", Shift::Day));
        assert_eq!(day.0, "2025-11-09T08:00:00".parse().unwrap());
        assert_eq!(day.1, "2025-11-09T20:00:00".parse().unwrap());
        let night = s.local_window(slot("2025-12-31", Shift::Night));
        assert_eq!(night.0, "2025-12-31T20:00:00".parse().unwrap());
        assert_eq!(night.1, "2026-01-01T08:00:00".parse().unwrap());
    }

    #[test]
    fn rejects_bad_configuration() {
        let cases = [
            ("Mars/Olympus", "08:00", "20:00", "INVALID_TIMEZONE"),
            ("", "08:00", "20:00", "INVALID_TIMEZONE"),
            ("UTC", "20:00", "08:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "08:00", "08:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "8:00", "20:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "08:00", "24:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "08:60", "20:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "08:00:00", "20:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "08-00", "20:00", "INVALID_SHIFT_TIMES"),
            ("UTC", " 08:00", "20:00", "INVALID_SHIFT_TIMES"),
            ("UTC", "٠٨:00", "20:00", "INVALID_SHIFT_TIMES"),
        ];
        for (tz, day, night, code) in cases {
            let err = ShiftSchedule::parse(tz, day, night).unwrap_err();
            assert_eq!(err.code(), code, "{tz} {day} {night}");
        }
        assert_eq!(
            ShiftSchedule::parse("UTC", "20:00", "08:00")
                .unwrap_err()
                .to_string(),
            "invalid shift times: day shift start 20:00:00 must be before night shift start 08:00:00"
        );
        assert_eq!(
            ShiftSchedule::parse("UTC", "8am", "20:00")
                .unwrap_err()
                .to_string(),
            "invalid shift times: day shift start \"8am\" must be HH:MM (24-hour)"
        );
    }

    const ZONES: [Tz; 8] = [
        Tz::UTC,
        Tz::Europe__Berlin,
        Tz::Asia__Seoul,
        Tz::America__New_York,
        Tz::America__Santiago,
        Tz::Australia__Lord_Howe,
        Tz::Pacific__Chatham,
        Tz::Asia__Kolkata,
    ];

    fn arb_schedule() -> impl Strategy<Value = ShiftSchedule> {
        (0..ZONES.len(), 0u32..1440, 0u32..1440)
            .prop_filter("distinct starts", |(_, a, b)| a != b)
            .prop_map(|(z, a, b)| {
                let (day, night) = (a.min(b), a.max(b));
                ShiftSchedule::new(ZONES[z], hm(day / 60, day % 60), hm(night / 60, night % 60))
                    .unwrap()
            })
    }

    proptest! {
        #[test]
        fn instant_lies_inside_its_slot(
            schedule in arb_schedule(),
            secs in 946_684_800i64..4_102_444_800, // 2000-01-01 .. 2100-01-01
        ) {
            let at = Utc.timestamp_opt(secs, 0).unwrap();
            let slot = schedule.production_slot(at);
            let local = at.with_timezone(&schedule.tz()).naive_local();
            let (start, end) = schedule.local_window(slot);
            prop_assert!(start <= local, "{slot:?} starts {start} after {local}");
            prop_assert!(local < end, "{slot:?} ends {end} before {local}");
            prop_assert!(end - start < chrono::TimeDelta::days(1));
        }
    }
}
