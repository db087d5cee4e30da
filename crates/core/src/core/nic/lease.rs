//! Lease detection from a DHCP client's output, for worlds and traces without
//! address events.

use std::net::Ipv4Addr;

/// The address of a udhcpc line such as
/// `udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2, lease time 86400`.
pub(super) fn from_output_line(line: &str) -> Option<String> {
    let rest = line.split("lease of ").nth(1)?;
    let mut words = rest.split_whitespace();
    let address = words.next()?;
    if words.next()?.trim_end_matches(',') != "obtained" {
        return None;
    }
    address.parse::<Ipv4Addr>().ok()?;
    Some(address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::from_output_line;

    #[test]
    fn udhcpc_lease_lines() {
        assert_eq!(
            from_output_line("udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2, lease time 86400")
                .as_deref(),
            Some("10.0.2.15")
        );
        assert_eq!(
            from_output_line("udhcpc: lease of 192.168.1.7 obtained, lease time 600").as_deref(),
            Some("192.168.1.7")
        );
        assert_eq!(from_output_line("udhcpc: sending discover"), None);
        assert_eq!(from_output_line("lease of nonsense obtained"), None);
        assert_eq!(from_output_line("udhcpc: lease of 10.0.0.1 lost"), None);
    }
}
