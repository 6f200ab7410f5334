//! Storage rules: the boot array is a hardware mirror (RAID 1) with enough usable capacity.
//!
//! The boot volume is the smallest mirrored volume: boot mirrors (BOSS, M.2 kits) are smaller
//! than working arrays. Where the BMC shows no RAID volume at all, the array may be software
//! RAID, which only the installed OS can see, so the check is handed to the in-band stage.

use super::{Outcome, RuleInfo, Subject, gigabytes, is_absent};
use crate::facts::{Drive, NodeFacts, Volume};
use crate::policy::{Evidence, Profile, Status};

/// Resources the storage rules read.
const STORAGE_AREAS: &[&str] = &["/Storage", "/Drives", "/Volumes", "/SimpleStorage"];

pub const WORKING_RAID: RuleInfo = RuleInfo {
    id: "working-array-raid",
    description: "the NVMe working array, separate from the boot array, is mirrored (RAID 1 or 10)",
    areas: STORAGE_AREAS,
    check: check_working_raid,
};

pub const WORKING_CAPACITY: RuleInfo = RuleInfo {
    id: "working-array-capacity",
    description: "the NVMe working array has the profile's terabytes per GPU after mirroring",
    areas: STORAGE_AREAS,
    check: check_working_capacity,
};

pub const SPARE_BAYS: RuleInfo = RuleInfo {
    id: "storage-spare-bays",
    description: "a storage server has empty drive bays for expansion",
    areas: &["/Drives"],
    check: check_spare_bays,
};

pub const DATA_JBOD: RuleInfo = RuleInfo {
    id: "storage-data-jbod",
    description: "a storage server's data drives are not in a hardware RAID volume",
    areas: STORAGE_AREAS,
    check: check_data_jbod,
};

const MDADM_WORKING_CHECK: &str = "mdadm --detail /dev/mdX (expect raid1 or raid10, clean) on the working array";

/// Returns the URIs of the boot array's drives, which belong to neither working nor data
/// arrays. They are the boot mirror's, else those of the smallest RAID volume: that volume is
/// the boot array even when it is not a mirror, which boot-volume-raid1 reports.
fn boot_drives<'a>(facts: &'a NodeFacts, profile: &Profile) -> Vec<&'a str> {
    let smallest_array = || {
        facts
            .volumes
            .iter()
            .filter(|volume| is_array(volume))
            .min_by_key(|volume| volume.capacity_bytes.unwrap_or(u64::MAX))
    };
    boot_mirror(facts, profile)
        .or_else(smallest_array)
        .map(|volume| volume.drives.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Data drives of a storage server: every present drive outside the boot array.
pub(crate) fn storage_data_drives<'a>(facts: &'a NodeFacts, profile: &Profile) -> Vec<&'a Drive> {
    non_boot_drives(facts, profile)
}

/// Drives outside the boot array and not absent.
fn non_boot_drives<'a>(facts: &'a NodeFacts, profile: &Profile) -> Vec<&'a Drive> {
    let boot = boot_drives(facts, profile);
    facts
        .drives
        .iter()
        .filter(|drive| !is_absent(drive.state.as_deref()))
        .filter(|drive| {
            !boot
                .iter()
                .any(|uri| uri.trim_end_matches('/') == drive.uri.trim_end_matches('/'))
        })
        .collect()
}

/// Returns the NVMe drives of the working array: drives outside the boot array with an NVMe
/// protocol. Fails with the reason when the protocols or the boot drives are not known.
fn working_drives<'a>(facts: &'a NodeFacts, profile: &Profile) -> Result<Vec<&'a Drive>, String> {
    let candidates = non_boot_drives(facts, profile);
    let unknown_protocol = candidates.iter().filter(|d| d.protocol.is_none()).count();
    let nvme: Vec<&Drive> = candidates.into_iter().filter(|d| is_nvme(d)).collect();
    if nvme.len() < 2 && unknown_protocol > 0 {
        return Err(format!(
            "{unknown_protocol} drives report no Protocol, so the NVMe working array cannot be told"
        ));
    }
    if boot_drives(facts, profile).is_empty() && !nvme.is_empty() {
        // Without a hardware boot volume, the boot drives are among these, as with software
        // RAID on two M.2 drives (NVIDIA DGX H100). Only the installed OS can tell them apart.
        return Err(format!(
            "{} NVMe drives but no hardware boot volume, so the boot drives among them are unknown; \
             check in-band with `lsblk` and `mdadm --detail`",
            nvme.len()
        ));
    }
    Ok(nvme)
}

/// True for an NVMe drive: Protocol NVMe, or PCIe as Dell iDRAC reports direct-attached NVMe.
fn is_nvme(drive: &Drive) -> bool {
    matches!(drive.protocol.as_deref(), Some("NVMe" | "PCIe"))
}

/// Volumes made only of the given drives, with at least two members.
fn volumes_over<'a>(facts: &'a NodeFacts, drives: &[&Drive]) -> Vec<&'a Volume> {
    let uris: Vec<&str> = drives.iter().map(|drive| drive.uri.trim_end_matches('/')).collect();
    facts
        .volumes
        .iter()
        .filter(|volume| volume.drives.len() >= 2)
        .filter(|volume| {
            volume
                .drives
                .iter()
                .all(|uri| uris.contains(&uri.trim_end_matches('/')))
        })
        .collect()
}

fn is_working_mirror(volume: &Volume, profile: &Profile) -> bool {
    volume.raid_type.as_deref().is_some_and(|raid| {
        profile
            .working_array
            .raid_types
            .iter()
            .any(|accepted| accepted.eq_ignore_ascii_case(raid))
    })
}

fn check_working_raid(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = format!(
        "NVMe working drives outside the boot array in a {} volume",
        profile.working_array.raid_types.join(" or ")
    );
    if facts.drives.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no drive reported by the BMC");
    }
    let working = match working_drives(facts, profile) {
        Ok(working) => working,
        Err(unknown) => return Outcome::new(Status::Unknown, expected, unknown),
    };
    if working.len() < 2 {
        let observed = format!("{} NVMe drives outside the boot array", working.len());
        return Outcome::new(Status::Fail, expected, observed);
    }

    let volumes = volumes_over(facts, &working);
    let evidence = volumes.iter().flat_map(|volume| volume_evidence(volume)).collect();
    if let Some(mirror) = volumes.iter().find(|volume| is_working_mirror(volume, profile)) {
        let observed = format!(
            "{} is {} over {} drives",
            label(mirror),
            mirror.raid_type.as_deref().unwrap_or(""),
            mirror.drives.len()
        );
        return Outcome::new(Status::Pass, expected, observed).with_evidence(evidence);
    }
    if let Some(other) = volumes.iter().find(|volume| is_array(volume)) {
        let kind = other
            .raid_type
            .as_deref()
            .or(other.volume_type.as_deref())
            .unwrap_or("unknown RAID type");
        let observed = format!("{} is {kind}", label(other));
        return Outcome::new(Status::Fail, expected, observed)
            .with_parts(vec![label(other)])
            .with_evidence(evidence);
    }
    let observed = format!(
        "{} NVMe drives without a hardware RAID volume; check software RAID: {MDADM_WORKING_CHECK}",
        working.len()
    );
    Outcome::new(Status::InBand, expected, observed)
}

fn check_working_capacity(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected_text = "the profile's TB per GPU on the NVMe working array, after mirroring";
    if facts.gpus.is_empty() {
        return Outcome::new(Status::Unknown, expected_text, "no GPU reported by the BMC");
    }
    let sizes: Option<Vec<u32>> = facts
        .gpus
        .iter()
        .map(|gpu| super::memory::gpu_memory_gb(gpu, profile))
        .collect();
    let Some(largest) = sizes.and_then(|sizes| sizes.into_iter().max()) else {
        return Outcome::new(
            Status::Unknown,
            expected_text,
            "the memory size of some GPUs is not reported or known",
        );
    };
    let bucket = profile
        .working_array
        .per_gpu
        .iter()
        .filter(|b| largest >= b.gpu_memory_gb)
        .max_by_key(|b| b.gpu_memory_gb);
    let Some(bucket) = bucket else {
        let observed = format!("the requirements give no working-array size for {largest} GB GPUs");
        return Outcome::new(Status::NotApplicable, expected_text, observed);
    };

    let gpus = facts.gpus.len() as u64;
    let needed_tb = u64::from(bucket.tb_per_gpu) * gpus;
    let expected = format!(
        ">= {needed_tb} TB usable ({} TB per GPU for {largest} GB GPUs, {gpus} GPUs)",
        bucket.tb_per_gpu
    );
    let working = match working_drives(facts, profile) {
        Ok(working) => working,
        Err(unknown) => return Outcome::new(Status::Unknown, expected, unknown),
    };
    let evidence: Vec<Evidence> = working
        .iter()
        .map(|d| Evidence::optional(&d.uri, "CapacityBytes", &d.capacity_bytes))
        .collect();
    if working.is_empty() {
        return Outcome::new(Status::Fail, expected, "no NVMe drive outside the boot array");
    }
    let Some(raw) = working.iter().map(|d| d.capacity_bytes).sum::<Option<u64>>() else {
        return Outcome::new(Status::Unknown, expected, "some working drives report no CapacityBytes")
            .with_evidence(evidence);
    };

    let volumes = volumes_over(facts, &working);
    let (usable, basis) = match volumes.iter().find(|volume| is_working_mirror(volume, profile)) {
        Some(volume) if volume.capacity_bytes.is_some() => (
            volume.capacity_bytes.unwrap_or(0),
            format!("{} capacity", label(volume)),
        ),
        _ => (
            raw / 2,
            format!(
                "half of {} raw on {} NVMe drives, as a mirror keeps",
                gigabytes(raw),
                working.len()
            ),
        ),
    };
    let observed = format!("{:.2} TB usable ({basis})", usable as f64 / 1e12);
    let status = if usable >= needed_tb * 1_000_000_000_000 {
        Status::Pass
    } else {
        Status::Fail
    };
    Outcome::new(status, expected, observed).with_evidence(evidence)
}

fn check_spare_bays(subject: &Subject, _profile: &Profile) -> Outcome {
    let bays = &subject.facts.empty_bays;
    let expected = "at least one empty drive bay";
    if bays.is_empty() {
        // Dell, Supermicro and Lenovo BMCs list only populated bays, so none listed does not
        // mean none free: the bay count comes from the chassis or the vendor's spec sheet.
        let observed = "the BMC lists no empty bay; check the chassis or the vendor's spec sheet";
        return Outcome::new(Status::NotApplicable, expected, observed);
    }
    let evidence = bays
        .iter()
        .map(|uri| Evidence::new(uri, "Status/State", "Absent"))
        .collect();
    Outcome::new(Status::Pass, expected, format!("{} empty bays", bays.len())).with_evidence(evidence)
}

fn check_data_jbod(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "data drives outside the boot array, each exposed raw (JBOD), not in a RAID volume";
    let data = non_boot_drives(facts, profile);
    if data.is_empty() {
        let observed = if facts.drives.is_empty() {
            "no drive reported by the BMC"
        } else {
            "no drive outside the boot array"
        };
        return Outcome::new(Status::Unknown, expected, observed);
    }
    let data_uris: Vec<&str> = data.iter().map(|d| d.uri.trim_end_matches('/')).collect();
    let raided: Vec<&Volume> = facts
        .volumes
        .iter()
        .filter(|volume| is_array(volume) && volume.drives.len() >= 2)
        .filter(|volume| {
            volume
                .drives
                .iter()
                .any(|uri| data_uris.contains(&uri.trim_end_matches('/')))
        })
        .collect();
    if raided.is_empty() {
        let sizes: Vec<String> = data.iter().filter_map(|d| d.capacity_bytes).map(gigabytes).collect();
        let mut distinct = sizes.clone();
        distinct.dedup();
        let observed = format!("{} data drives without RAID ({})", data.len(), distinct.join(", "));
        return Outcome::new(Status::Pass, expected, observed);
    }
    let evidence = raided.iter().flat_map(|volume| volume_evidence(volume)).collect();
    let parts: Vec<String> = raided.iter().map(|volume| label(volume)).collect();
    let observed = format!("data drives are in {}", parts.join(", "));
    Outcome::new(Status::Fail, expected, observed)
        .with_parts(parts)
        .with_evidence(evidence)
}

pub const BOOT_RAID1: RuleInfo = RuleInfo {
    id: "boot-volume-raid1",
    description: "the boot array is mirrored (RAID 1) across at least two drives",
    areas: STORAGE_AREAS,
    check: check_raid1,
};

pub const BOOT_CAPACITY: RuleInfo = RuleInfo {
    id: "boot-volume-capacity",
    description: "the boot array has the minimum usable capacity after RAID",
    areas: STORAGE_AREAS,
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

/// Returns true for a volume that is a RAID array rather than a single pass-through drive: Dell lists
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

/// Returns the smallest mirrored volume with at least two member drives.
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
    use super::super::test_support::{run_as, status};
    use crate::facts::{Drive, Gpu, NodeFacts, Volume};
    use crate::inventory::Role;
    use crate::policy::Status;

    const BOOT_BYTES: u64 = 960_000_000_000;
    const NVME_BYTES: u64 = 7_680_000_000_000;

    fn drive(n: usize, protocol: &str, bytes: u64) -> Drive {
        Drive {
            uri: format!("/redfish/v1/Systems/1/Storage/RAID.1/Drives/{n}"),
            id: n.to_string(),
            protocol: Some(protocol.into()),
            capacity_bytes: Some(bytes),
            ..Drive::default()
        }
    }

    /// Builds a GPU server: a RAID1 boot mirror over drives 0 and 1, `nvme` working drives from 2 on,
    /// and `gpus` H100 GPUs.
    fn server(nvme: usize, gpus: usize, extra_volume: Option<Volume>) -> NodeFacts {
        let mut drives = vec![drive(0, "SATA", BOOT_BYTES), drive(1, "SATA", BOOT_BYTES)];
        drives.extend((2..2 + nvme).map(|n| drive(n, "NVMe", NVME_BYTES)));
        let mut volumes = vec![volume(Some("RAID1"), None, 2, Some(BOOT_BYTES))];
        volumes.extend(extra_volume);
        NodeFacts {
            drives,
            volumes,
            gpus: (0..gpus)
                .map(|_| Gpu {
                    device_id: Some("0x2330".into()),
                    ..Gpu::default()
                })
                .collect(),
            ..NodeFacts::default()
        }
    }

    fn over(raid: &str, first: usize, count: usize, bytes: Option<u64>) -> Volume {
        Volume {
            uri: "/redfish/v1/Systems/1/Storage/RAID.1/Volumes/2".into(),
            id: "2".into(),
            raid_type: Some(raid.into()),
            capacity_bytes: bytes,
            drives: (first..first + count)
                .map(|n| format!("/redfish/v1/Systems/1/Storage/RAID.1/Drives/{n}"))
                .collect(),
            ..Volume::default()
        }
    }

    #[test]
    fn working_raid10_passes() {
        let facts = server(8, 8, Some(over("RAID10", 2, 8, Some(4 * NVME_BYTES))));
        assert_eq!(status("working-array-raid", &facts), Status::Pass);
    }

    #[test]
    fn working_raid0_fails() {
        let facts = server(8, 8, Some(over("RAID0", 2, 8, None)));
        assert_eq!(status("working-array-raid", &facts), Status::Fail);
    }

    #[test]
    fn working_raid_without_drives_is_unknown() {
        assert_eq!(status("working-array-raid", &NodeFacts::default()), Status::Unknown);
    }

    #[test]
    fn working_drives_without_protocol_are_unknown() {
        let mut facts = server(8, 8, None);
        for drive in facts.drives.iter_mut().skip(2) {
            drive.protocol = None;
        }
        assert_eq!(status("working-array-raid", &facts), Status::Unknown);
        assert_eq!(status("working-array-capacity", &facts), Status::Unknown);
    }

    #[test]
    fn working_drives_without_volume_go_in_band() {
        assert_eq!(status("working-array-raid", &server(8, 8, None)), Status::InBand);
    }

    #[test]
    fn working_capacity_halves_raw_nvme() {
        // 8 x 7.68 TB raw is 30.72 TB usable as a mirror: enough for 4 TB x 7 GPUs, not x 8.
        assert_eq!(status("working-array-capacity", &server(8, 7, None)), Status::Pass);
        assert_eq!(status("working-array-capacity", &server(8, 8, None)), Status::Fail);
    }

    #[test]
    fn working_capacity_without_sizes_is_unknown() {
        let mut facts = server(8, 8, None);
        facts.drives[4].capacity_bytes = None;
        assert_eq!(status("working-array-capacity", &facts), Status::Unknown);
    }

    #[test]
    fn spare_bays_need_an_empty_bay_listed() {
        let mut facts = server(12, 0, None);
        assert_eq!(
            run_as("storage-spare-bays", &facts, None, Role::Storage).status,
            Status::NotApplicable
        );
        facts.empty_bays = vec!["/redfish/v1/Chassis/1/Drives/Bay13".into()];
        assert_eq!(
            run_as("storage-spare-bays", &facts, None, Role::Storage).status,
            Status::Pass
        );
    }

    #[test]
    fn storage_data_jbod() {
        let raw = server(12, 0, None);
        let raided = server(12, 0, Some(over("RAID5", 2, 12, None)));
        assert_eq!(
            run_as("storage-data-jbod", &raw, None, Role::Storage).status,
            Status::Pass
        );
        assert_eq!(
            run_as("storage-data-jbod", &raided, None, Role::Storage).status,
            Status::Fail
        );
        assert_eq!(
            run_as("storage-data-jbod", &NodeFacts::default(), None, Role::Storage).status,
            Status::Unknown
        );
    }

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
