//! Which links are managed: the NIC selection of the policy.

use crate::core::input::LinkState;
use crate::core::policy::{NetPolicy, any_match};

/// Whether a link is ours to manage, and why (the `reason` of `nic.seen`).
pub(super) fn judge(p: &NetPolicy, link: &LinkState) -> (bool, String) {
    if link.loopback() {
        return (false, "loopback".into());
    }
    if let Some(kind) = &link.kind
        && !p.allow_virtual
    {
        return (false, format!("virtual ({kind})"));
    }
    if !any_match(&p.include, &link.name) {
        return (false, "not included".into());
    }
    if any_match(&p.exclude, &link.name) {
        return (false, "excluded".into());
    }
    if let Some(allow) = &p.allow
        && !any_match(allow, &link.name)
    {
        return (false, "not allow-listed".into());
    }
    match &link.kind {
        Some(kind) => (true, format!("virtual ({kind}), allowed")),
        None => (true, "physical".into()),
    }
}
