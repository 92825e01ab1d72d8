//! `--uid-map` / `--gid-map`: container ids to host ids, as `CONTAINER:HOST:SIZE` ranges.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// A set of ranges. Empty means identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap(pub Vec<IdRange>);

impl IdMap {
    /// The host id for a container id, or `None` if no range covers it.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        if self.0.is_empty() {
            return Some(id);
        }
        self.0.iter().find_map(|r| {
            let offset = id.checked_sub(r.container)?;
            (offset < r.size).then(|| r.host + offset)
        })
    }
}

impl IdMap {
    /// The container id of a host id: the inverse of [`IdMap::to_host`].
    pub fn to_container(&self, id: u32) -> Option<u32> {
        if self.0.is_empty() {
            return Some(id);
        }
        self.0.iter().find_map(|r| {
            let offset = id.checked_sub(r.host)?;
            (offset < r.size).then(|| r.container + offset)
        })
    }
}

impl FromStr for IdRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("id map {s:?} is not CONTAINER:HOST:SIZE (e.g. 0:1000:1)");
        let [container, host, size] = parts.as_slice() else {
            return Err(bad());
        };
        let range = IdRange {
            container: container.parse().map_err(|_| bad())?,
            host: host.parse().map_err(|_| bad())?,
            size: size.parse().map_err(|_| bad())?,
        };
        let fits = |start: u32| start.checked_add(range.size).is_some();
        if range.size == 0 || !fits(range.container) || !fits(range.host) {
            return Err(format!("id map {s:?} has an empty or overflowing range"));
        }
        Ok(range)
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.container, self.host, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_map_and_refuse_what_they_do_not_cover() {
        let map = IdMap(vec![
            "0:1000:1".parse().unwrap(),
            "1:100000:65536".parse().unwrap(),
        ]);
        assert_eq!(map.to_host(0), Some(1000));
        assert_eq!(map.to_host(1), Some(100000));
        assert_eq!(map.to_host(65536), Some(165535));
        assert_eq!(map.to_host(65537), None);
        assert_eq!(map.to_container(100000), Some(1));
        assert_eq!(map.to_container(1000), Some(0));
        assert_eq!(map.to_container(999), None);
        assert_eq!(IdMap::default().to_host(42), Some(42));
        assert!("0:1".parse::<IdRange>().is_err());
        assert!("0:4294967295:2".parse::<IdRange>().is_err());
        assert!("0:0:0".parse::<IdRange>().is_err());
    }
}
