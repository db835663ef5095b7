//! Where the launcher starts its processes: 1 master and N workers on source hosts, N
//! destinations on destination hosts, one process a slot, filling hosts in the order of
//! the host file (as mpirun does by slot).

use crate::launch::hostfile::{Host, HostRole};

/// One process to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first source (it becomes the master).
    Master,
    /// A copying source.
    Worker,
    /// A destination.
    Dest,
}

/// A process and the host (index into the host list) it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// What it runs.
    pub kind: Kind,
    /// Index of its host.
    pub host: usize,
    /// Its rank: 0 the master, then workers, then destinations.
    pub rank: usize,
}

/// The largest N the slots allow: 1 + N source slots and N destination slots, hosts of
/// role `any` counting for either.
pub fn max_workers(hosts: &[Host]) -> usize {
    let sum = |role: HostRole| -> usize {
        hosts
            .iter()
            .filter(|h| h.role == role)
            .map(|h| h.slots)
            .sum()
    };
    let (s, d, a) = (
        sum(HostRole::Source),
        sum(HostRole::Dest),
        sum(HostRole::Any),
    );
    (s + a)
        .saturating_sub(1)
        .min(d + a)
        .min((s + d + a).saturating_sub(1) / 2)
}

/// Why the processes do not fit the host file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// `-n` asks for more workers than the slots allow, or for none.
    #[error(
        "the host file has {total} slots, room for {most} workers (1 master + N sources on source hosts, N destinations on destination hosts){}: add slots or hosts, or give a smaller -n",
        if *.asked == 0 { ", and -n 0 asks for none" } else { "" }
    )]
    NoRoom {
        /// Slots in the host file.
        total: usize,
        /// The most workers they allow ([`max_workers`]).
        most: usize,
        /// The workers asked for.
        asked: usize,
    },
    /// A process found no free slot (the count said there was one).
    #[error("no slot left for a process")]
    NoSlotLeft,
}

/// Places 1 master, `n` workers and `n` destinations (`n` defaults to [`max_workers`]).
pub fn place(hosts: &[Host], n: Option<usize>) -> Result<Vec<Slot>, PlacementError> {
    let most = max_workers(hosts);
    let n = n.unwrap_or(most);
    if n == 0 || n > most {
        let total: usize = hosts.iter().map(|h| h.slots).sum();
        return Err(PlacementError::NoRoom {
            total,
            most,
            asked: n,
        });
    }
    let mut free: Vec<usize> = hosts.iter().map(|h| h.slots).collect();
    let mut out = Vec::with_capacity(1 + 2 * n);
    let kinds = std::iter::once(Kind::Master)
        .chain(std::iter::repeat_n(Kind::Worker, n))
        .chain(std::iter::repeat_n(Kind::Dest, n));
    for (rank, kind) in kinds.enumerate() {
        let only = if kind == Kind::Dest {
            HostRole::Dest
        } else {
            HostRole::Source
        };
        let host = take(hosts, &mut free, only).ok_or(PlacementError::NoSlotLeft)?;
        out.push(Slot { kind, host, rank });
    }
    Ok(out)
}

/// A free slot on a host of role `only`, else on a host that takes either.
fn take(hosts: &[Host], free: &mut [usize], only: HostRole) -> Option<usize> {
    let pick = |role: HostRole| (0..hosts.len()).find(|&i| free[i] > 0 && hosts[i].role == role);
    let i = pick(only).or_else(|| pick(HostRole::Any))?;
    free[i] -= 1;
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::hostfile::parse;

    fn kinds(slots: &[Slot], kind: Kind) -> Vec<usize> {
        slots
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.host)
            .collect()
    }

    #[test]
    fn one_local_host() {
        let hosts = parse("localhost slots=5\n", "h").unwrap();
        assert_eq!(max_workers(&hosts), 2);
        let slots = place(&hosts, None).unwrap();
        assert_eq!(slots.len(), 5);
        assert_eq!(slots[0].kind, Kind::Master);
        assert_eq!(kinds(&slots, Kind::Worker).len(), 2);
        assert_eq!(kinds(&slots, Kind::Dest).len(), 2);
    }

    #[test]
    fn roles_and_slots_are_kept() {
        let hosts = parse(
            "s1 slots=2 role=source\ns2 slots=2 role=source\nd1 slots=3 role=dest\n",
            "h",
        )
        .unwrap();
        assert_eq!(max_workers(&hosts), 3);
        let slots = place(&hosts, None).unwrap();
        assert_eq!(slots[0].host, 0);
        assert_eq!(kinds(&slots, Kind::Worker), vec![0, 1, 1]);
        assert_eq!(kinds(&slots, Kind::Dest), vec![2, 2, 2]);
        let slots = place(&hosts, Some(1)).unwrap();
        assert_eq!(slots.len(), 3);
    }

    #[test]
    fn too_few_slots_is_an_error() {
        let hosts = parse("a slots=2\n", "h").unwrap();
        assert_eq!(max_workers(&hosts), 0);
        assert!(place(&hosts, None)
            .unwrap_err()
            .to_string()
            .contains("room for 0 workers"));
        assert_eq!(
            place(&hosts, Some(0)).unwrap_err().to_string(),
            "the host file has 2 slots, room for 0 workers (1 master + N sources on source hosts, N destinations on destination hosts), and -n 0 asks for none: add slots or hosts, or give a smaller -n"
        );
        let hosts = parse("a slots=9 role=source\nb role=dest\n", "h").unwrap();
        assert!(place(&hosts, Some(2))
            .unwrap_err()
            .to_string()
            .contains("room for 1 workers"));
    }
}
