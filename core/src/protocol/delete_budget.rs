//! `--max-delete N` as a budget of the whole session, not of each rsync run: the session
//! deletes at most N entries at the destination, whichever workers delete them.
//!
//! rsync alone enforces a limit within one process. Across workers the budget is held in
//! ZooKeeper as reservations, one persistent sequential znode each,
//! `deletes/<chunk>~<n>~<seq>`: `n` deletions asked for by a run of `chunk`. Every client
//! decides the same way which reservations are granted, from the names alone: in sequence
//! order, a reservation is granted when it fits in what the granted ones before it left of
//! the budget ([`decide`]). A reservation is created before it is decided, and ZooKeeper
//! orders every create, so the decision about a reservation never changes once made.
//!
//! A worker learns how many deletions a chunk needs from rsync itself: its first run of the
//! chunk gets `--max-delete=0` (rsync transfers everything and deletes nothing, and says
//! how many deletions it skipped); it then reserves that many and, once granted, runs again
//! with `--max-delete` set to them. The driver gives each invocation of a job what the job's
//! earlier invocations left of its allowance, so no run deletes more than it was granted.
//! Reservations are never given back: a run that deleted fewer, or a worker that died
//! holding one, leaves the budget smaller, never larger, than what was deleted.

use super::layout;

/// The deletions reserved and granted before a reservation, and whether it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The reservation fits in the budget.
    pub granted: bool,
    /// Deletions granted to reservations before this one.
    pub held_before: u64,
}

/// The name prefix of a reservation of `n` deletions for `chunk` (the server appends the
/// sequence number).
pub fn reservation_prefix(chunk: &str, n: u64) -> String {
    format!("{chunk}~{n}~")
}

/// The chunk, the deletions and the sequence number of a reservation's name.
pub fn parse_reservation(name: &str) -> Option<(&str, u64, u64)> {
    let mut parts = name.splitn(3, '~');
    let chunk = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    let seq = layout::sequence_of(parts.next()?)?;
    Some((chunk, n, seq))
}

/// Whether the reservation `mine` is granted, given every reservation's name (`mine`
/// among them) and the session's budget. None when `mine` is not among `names` or not a
/// reservation's name. Names that are not reservations are ignored.
pub fn decide(names: &[String], budget: u64, mine: &str) -> Option<Decision> {
    let (_, _, my_seq) = parse_reservation(mine)?;
    let mut ordered: Vec<(u64, u64)> = names
        .iter()
        .filter_map(|n| parse_reservation(n).map(|(_, n, seq)| (seq, n)))
        .collect();
    ordered.sort_unstable();
    let mut held = 0u64;
    for (seq, n) in ordered {
        let fits = held.checked_add(n).is_some_and(|t| t <= budget);
        if seq == my_seq {
            return Some(Decision {
                granted: fits,
                held_before: held,
            });
        }
        if fits {
            held += n;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(chunk: &str, n: u64, seq: u64) -> String {
        format!("{}{seq:010}", reservation_prefix(chunk, n))
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_reservation(&name("0007", 12, 3)),
            Some(("0007", 12, 3))
        );
        assert_eq!(parse_reservation("0007~x~0000000001"), None);
        assert_eq!(parse_reservation("0007~3"), None);
    }

    #[test]
    fn reservations_are_granted_in_sequence_order_while_they_fit() {
        let names = vec![
            name("b", 6, 2),
            name("a", 5, 1),
            name("c", 4, 3),
            name("d", 5, 4),
        ];
        let d = |n: &str| decide(&names, 10, n).unwrap();
        assert_eq!(
            d(&names[1]),
            Decision {
                granted: true,
                held_before: 0
            }
        );
        // 5 + 6 > 10: refused, and it holds nothing.
        assert_eq!(
            d(&names[0]),
            Decision {
                granted: false,
                held_before: 5
            }
        );
        assert_eq!(
            d(&names[2]),
            Decision {
                granted: true,
                held_before: 5
            }
        );
        assert_eq!(
            d(&names[3]),
            Decision {
                granted: false,
                held_before: 9
            }
        );
        assert_eq!(decide(&names, 10, &name("e", 1, 9)), None);
    }

    proptest! {
        /// Whatever the reservations and the order clients see them in, the granted ones
        /// never sum to more than the budget, and every client decides each one alike.
        #[test]
        fn granted_reservations_never_exceed_the_budget(
            asks in proptest::collection::vec(0u64..50, 0..30),
            budget in 0u64..200,
            shift in 0usize..30,
        ) {
            let names: Vec<String> =
                asks.iter().enumerate().map(|(i, n)| name("c", *n, i as u64)).collect();
            let mut seen = names.clone();
            let by = shift.min(seen.len());
            seen.rotate_left(by);
            let mut total = 0;
            for mine in &names {
                let a = decide(&names, budget, mine).unwrap();
                let b = decide(&seen, budget, mine).unwrap();
                prop_assert_eq!(a, b);
                if a.granted {
                    total += parse_reservation(mine).unwrap().1;
                }
            }
            prop_assert!(total <= budget);
        }
    }
}
