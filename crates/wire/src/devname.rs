//! Kernel block device names: what the kernel calls partition N of a disk.

/// `sda` → `sda1`, `nvme0n1` → `nvme0n1p1`, `loop0` → `loop0p1`: the kernel adds a
/// `p` when the disk's name ends in a digit (`add_partition` in block/partitions).
pub fn partition_name(disk: &str, number: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::partition_name;

    #[test]
    fn partition_names_follow_the_kernel() {
        assert_eq!(partition_name("loop0", 1), "loop0p1");
        assert_eq!(partition_name("nvme0n1", 2), "nvme0n1p2");
        assert_eq!(partition_name("sda", 1), "sda1");
        assert_eq!(partition_name("vdb", 3), "vdb3");
        assert_eq!(partition_name("mmcblk0", 1), "mmcblk0p1");
    }
}
