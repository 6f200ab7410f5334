//! Storage rules: the boot array is a hardware mirror (RAID 1) with enough usable capacity.
//!
//! The boot volume is the smallest mirrored volume: boot mirrors (BOSS, M.2 kits) are smaller
//! than working arrays. Where the BMC shows no RAID volume at all, the array may be software
//! RAID, which only the installed OS can see, so the check is handed to the in-band stage.

use super::{Outcome, RuleInfo, Subject, gigabytes};
use crate::facts::{NodeFacts, Volume};
use crate::policy::{Evidence, Profile, Status};

pub const BOOT_RAID1: RuleInfo = RuleInfo {
    id: "boot-volume-raid1",
    description: "the boot array is mirrored (RAID 1) across at least two drives",
    check: check_raid1,
};

pub const BOOT_CAPACITY: RuleInfo = RuleInfo {
    id: "boot-volume-capacity",
    description: "the boot array has the minimum usable capacity after RAID",
    check: check_capacity,
};

const MDADM_CHECK: &str = "cat /proc/mdstat; mdadm --detail /dev/md0 (expect raid1, clean, 2 active devices)";

fn is_mirror(volume: &Volume, profile: &Profile) -> bool {
    let by_raid_type = volume.raid_type.as_deref().is_some_and(|raid| {
        profile
            .boot
            .raid_types
            .iter()
            .any(|accepted| accepted.eq_ignore_ascii_case(raid))
    });
    // Services older than Volume v1_3_1 report only the deprecated VolumeType.
    let by_volume_type = volume.raid_type.is_none() && volume.volume_type.as_deref() == Some("Mirrored");
    by_raid_type || by_volume_type
}

/// A volume that stands for a RAID array rather than a single pass-through drive: Dell lists
/// each non-RAID NVMe drive as its own volume with RAIDType null or VolumeType RawDevice.
fn is_array(volume: &Volume) -> bool {
    let raw = volume.volume_type.as_deref() == Some("RawDevice") || volume.raid_type.as_deref() == Some("None");
    !raw && (volume.raid_type.is_some() || volume.volume_type.is_some() || volume.drives.len() > 1)
}

fn label(volume: &Volume) -> String {
    format!("volume {}", volume.name.as_deref().unwrap_or(&volume.id))
}

fn volume_evidence(volume: &Volume) -> Vec<Evidence> {
    vec![
        Evidence::optional(&volume.uri, "RAIDType", &volume.raid_type),
        Evidence::optional(&volume.uri, "VolumeType", &volume.volume_type),
        Evidence::new(&volume.uri, "Links/Drives@odata.count", volume.drives.len()),
        Evidence::optional(&volume.uri, "CapacityBytes", &volume.capacity_bytes),
    ]
}

/// The smallest mirrored volume with at least two member drives.
fn boot_mirror<'a>(facts: &'a NodeFacts, profile: &Profile) -> Option<&'a Volume> {
    facts
        .volumes
        .iter()
        .filter(|volume| is_mirror(volume, profile) && volume.drives.len() >= 2)
        .min_by_key(|volume| volume.capacity_bytes.unwrap_or(u64::MAX))
}

fn check_raid1(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = format!(
        "a boot volume of RAIDType {} with at least 2 drives",
        profile.boot.raid_types.join(" or ")
    );
    if let Some(volume) = boot_mirror(facts, profile) {
        let observed = format!(
            "{} is {} over {} drives",
            label(volume),
            volume
                .raid_type
                .as_deref()
                .or(volume.volume_type.as_deref())
                .unwrap_or("mirrored"),
            volume.drives.len()
        );
        return Outcome::new(Status::Pass, expected, observed).with_evidence(volume_evidence(volume));
    }

    let arrays: Vec<&Volume> = facts.volumes.iter().filter(|volume| is_array(volume)).collect();
    if arrays.is_empty() {
        let observed = format!("no hardware RAID volume reported; check software RAID: {MDADM_CHECK}");
        return Outcome::new(Status::InBand, expected, observed);
    }

    let seen: Vec<String> = arrays
        .iter()
        .map(|volume| {
            let kind = volume
                .raid_type
                .as_deref()
                .or(volume.volume_type.as_deref())
                .unwrap_or("unknown RAID type");
            format!("{} is {kind} over {} drives", label(volume), volume.drives.len())
        })
        .collect();
    let undecided = arrays
        .iter()
        .any(|volume| volume.raid_type.is_none() && volume.volume_type.is_none());
    let status = if undecided { Status::Unknown } else { Status::Fail };
    let parts = arrays.iter().map(|volume| label(volume)).collect();
    let evidence = arrays.iter().flat_map(|volume| volume_evidence(volume)).collect();
    Outcome::new(status, expected, format!("no mirrored volume: {}", seen.join("; ")))
        .with_parts(parts)
        .with_evidence(evidence)
}

fn check_capacity(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let minimum_bytes = profile.boot.min_capacity_gb * 1_000_000_000;
    let expected = format!(">= {} GB usable on the boot mirror", profile.boot.min_capacity_gb);
    let Some(volume) = boot_mirror(facts, profile) else {
        if facts.volumes.iter().any(is_array) {
            return Outcome::new(Status::Unknown, expected, "no mirrored boot volume to measure");
        }
        let observed = format!("no hardware RAID volume reported; check the software RAID size: {MDADM_CHECK}");
        return Outcome::new(Status::InBand, expected, observed);
    };

    let evidence = vec![Evidence::optional(&volume.uri, "CapacityBytes", &volume.capacity_bytes)];
    let Some(capacity) = volume.capacity_bytes else {
        return Outcome::new(
            Status::Unknown,
            expected,
            format!("{} reports no CapacityBytes", label(volume)),
        )
        .with_evidence(evidence);
    };
    let observed = format!("{} has {}", label(volume), gigabytes(capacity));
    if capacity >= minimum_bytes {
        Outcome::new(Status::Pass, expected, observed).with_evidence(evidence)
    } else {
        Outcome::new(Status::Fail, expected, observed)
            .with_parts(vec![label(volume)])
            .with_evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::status;
    use crate::facts::{NodeFacts, Volume};
    use crate::policy::Status;

    fn volume(raid: Option<&str>, volume_type: Option<&str>, drives: usize, bytes: Option<u64>) -> Volume {
        Volume {
            uri: "/redfish/v1/Systems/1/Storage/RAID.1/Volumes/1".into(),
            id: "1".into(),
            raid_type: raid.map(Into::into),
            volume_type: volume_type.map(Into::into),
            capacity_bytes: bytes,
            drives: (0..drives)
                .map(|n| format!("/redfish/v1/Systems/1/Storage/RAID.1/Drives/{n}"))
                .collect(),
            ..Volume::default()
        }
    }

    fn node(volumes: Vec<Volume>) -> NodeFacts {
        NodeFacts {
            volumes,
            ..NodeFacts::default()
        }
    }

    #[test]
    fn raid1_of_960gb_passes_both() {
        let facts = node(vec![volume(Some("RAID1"), None, 2, Some(959_000_000_000))]);
        assert_eq!(status("boot-volume-raid1", &facts), Status::Pass);
        assert_eq!(status("boot-volume-capacity", &facts), Status::Pass);
    }

    #[test]
    fn raid0_fails() {
        let facts = node(vec![volume(Some("RAID0"), None, 2, Some(1_900_000_000_000))]);
        assert_eq!(status("boot-volume-raid1", &facts), Status::Fail);
        assert_eq!(status("boot-volume-capacity", &facts), Status::Unknown);
    }

    #[test]
    fn small_mirror_fails_capacity() {
        let facts = node(vec![volume(Some("RAID1"), None, 2, Some(480_000_000_000))]);
        assert_eq!(status("boot-volume-capacity", &facts), Status::Fail);
    }

    #[test]
    fn deprecated_mirrored_volume_type_counts() {
        let facts = node(vec![volume(None, Some("Mirrored"), 2, Some(600_000_000_000))]);
        assert_eq!(status("boot-volume-raid1", &facts), Status::Pass);
    }

    #[test]
    fn raw_devices_only_hand_off_in_band() {
        let facts = node(vec![volume(None, Some("RawDevice"), 1, Some(3_840_000_000_000))]);
        assert_eq!(status("boot-volume-raid1", &facts), Status::InBand);
        assert_eq!(status("boot-volume-capacity", &facts), Status::InBand);
    }

    #[test]
    fn no_volumes_hand_off_in_band() {
        assert_eq!(status("boot-volume-raid1", &node(vec![])), Status::InBand);
    }

    #[test]
    fn mirror_without_capacity_is_unknown() {
        let facts = node(vec![volume(Some("RAID1"), None, 2, None)]);
        assert_eq!(status("boot-volume-capacity", &facts), Status::Unknown);
    }
}
