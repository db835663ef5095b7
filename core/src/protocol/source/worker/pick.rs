//! Which chunk a worker claims, and for which destination: a chunk nobody has claimed and
//! that has no result, on an active destination whose slot is free and that this worker has
//! not found unreachable lately, preferring one the chunk has not failed on or been handed
//! back by; workers spread over chunks and destinations by their names.

use std::collections::BTreeMap;

use crate::protocol::source::view::View;

/// A number from this worker's name that spreads workers over chunks and destinations.
pub(super) fn spread(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The chunk and destination to claim next, if any. Generic over the time (an `Instant`
/// in the machine) so that tests choose their instants.
pub(super) fn pick<T: Ord + Copy>(
    view: &View,
    suspect: &BTreeMap<String, T>,
    now: Option<T>,
    spread: u64,
) -> Option<(String, String)> {
    let candidates: Vec<&String> = view
        .chunks
        .iter()
        .filter(|c| !view.finished(c) && !view.claims.contains(*c))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let active: Vec<&String> = view
        .dests
        .iter()
        .filter(|(id, r)| {
            r.as_ref().is_some_and(|r| r.active)
                && suspect
                    .get(*id)
                    .is_none_or(|until| now.is_none_or(|n| n >= *until))
        })
        .map(|(id, _)| id)
        .collect();
    let spread = spread as usize;
    for k in 0..candidates.len() {
        let chunk = candidates[(spread + k) % candidates.len()];
        let tried = view.tries.get(chunk).map(Vec::as_slice).unwrap_or(&[]);
        let handed = view.handbacks.get(chunk).map(Vec::as_slice).unwrap_or(&[]);
        let untried: Vec<&String> = active
            .iter()
            .copied()
            .filter(|d| !tried.contains(d) && !handed.contains(d))
            .collect();
        // A chunk that failed on a destination goes to another one when there is one, even
        // if that means waiting for it to be free.
        let pool = if untried.is_empty() {
            &active
        } else {
            &untried
        };
        let choices: Vec<&String> = pool
            .iter()
            .copied()
            .filter(|d| !view.slots.contains(*d))
            .collect();
        if !choices.is_empty() {
            return Some((chunk.clone(), choices[spread % choices.len()].clone()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::DestRecord;

    fn dest(active: bool) -> Option<DestRecord> {
        Some(DestRecord {
            address: "127.0.0.1".into(),
            port: 1,
            module: "m".into(),
            active,
            host: "h".into(),
            auth: None,
            tree: None,
            extra: vec![],
        })
    }

    fn view() -> View {
        let mut v = View {
            chunks: ["a", "b", "c"].map(String::from).into(),
            ..View::default()
        };
        v.dests.insert("d1".into(), dest(true));
        v.dests.insert("d2".into(), dest(true));
        v
    }

    #[test]
    fn picks_a_free_chunk_on_a_free_destination() {
        let mut v = view();
        v.done.insert("a".into());
        v.claims.insert("b".into());
        v.slots.insert("d1".into());
        assert_eq!(
            pick::<u64>(&v, &BTreeMap::new(), None, 0),
            Some(("c".into(), "d2".into()))
        );
    }

    #[test]
    fn nothing_when_every_slot_is_taken_or_every_dest_paused() {
        let mut v = view();
        v.slots = ["d1", "d2"].map(String::from).into();
        assert_eq!(pick::<u64>(&v, &BTreeMap::new(), None, 0), None);
        let mut v = view();
        v.dests.insert("d1".into(), dest(false));
        v.dests.insert("d2".into(), None);
        assert_eq!(pick::<u64>(&v, &BTreeMap::new(), None, 0), None);
    }

    #[test]
    fn a_chunk_that_failed_on_a_destination_waits_for_another() {
        let mut v = view();
        v.chunks = ["a"].map(String::from).into();
        v.tries.insert("a".into(), vec!["d2".into()]);
        v.slots.insert("d1".into());
        assert_eq!(pick::<u64>(&v, &BTreeMap::new(), None, 1), None);
        v.slots.clear();
        assert_eq!(
            pick::<u64>(&v, &BTreeMap::new(), None, 1),
            Some(("a".into(), "d1".into()))
        );
    }

    #[test]
    fn a_suspect_destination_is_left_alone_until_its_time() {
        let mut v = view();
        v.dests.remove("d2");
        // Times as seconds: d1 is suspect until 5.
        let suspect = BTreeMap::from([("d1".to_owned(), 5_u64)]);
        assert_eq!(pick(&v, &suspect, Some(0), 0), None);
        assert!(pick(&v, &suspect, Some(5), 0).is_some());
    }
}
