//! The interpretation flag of a numeric observation against its reference range, used when a
//! laboratory sends a value without one.

use portal_entities::Interpretation;

/// Below half the low bound or above twice the high bound is critical; outside the range is
/// low or high; inside (or with no range) is normal.
pub fn interpret(value: f64, low: Option<f64>, high: Option<f64>) -> Interpretation {
    match (low, high) {
        (Some(l), _) if value < l * 0.5 => Interpretation::CriticalLow,
        (_, Some(h)) if value > h * 2.0 => Interpretation::CriticalHigh,
        (Some(l), _) if value < l => Interpretation::Low,
        (_, Some(h)) if value > h => Interpretation::High,
        _ => Interpretation::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_flagged_against_the_range() {
        let (low, high) = (Some(4.0), Some(10.0));
        assert_eq!(interpret(1.9, low, high), Interpretation::CriticalLow);
        assert_eq!(interpret(3.9, low, high), Interpretation::Low);
        assert_eq!(interpret(4.0, low, high), Interpretation::Normal);
        assert_eq!(interpret(10.0, low, high), Interpretation::Normal);
        assert_eq!(interpret(10.1, low, high), Interpretation::High);
        assert_eq!(interpret(20.1, low, high), Interpretation::CriticalHigh);
    }

    #[test]
    fn one_sided_and_missing_ranges() {
        assert_eq!(interpret(250.0, None, Some(200.0)), Interpretation::High);
        assert_eq!(interpret(30.0, Some(40.0), None), Interpretation::Low);
        assert_eq!(interpret(1e6, None, None), Interpretation::Normal);
    }
}
