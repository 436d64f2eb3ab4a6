//! The five capability sets, applied around the uid switch as runc does: the bounding
//! set is trimmed while we still hold CAP_SETPCAP, capabilities are kept across setuid,
//! then effective/permitted/inheritable are set and ambient raised.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use super::{field_err, SecurityError};

fn to_set(
    field: &str,
    list: Option<&oci_spec::runtime::Capabilities>,
) -> Result<CapsHashSet, SecurityError> {
    let mut out = CapsHashSet::new();
    for cap in list.into_iter().flatten() {
        let name = cap.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{}", name.to_uppercase())
        };
        match name.parse::<Capability>() {
            Ok(c) => {
                out.insert(c);
            }
            // oci-spec knows a name this kernel/caps crate does not: runc warns and skips.
            Err(_) => {
                tracing::warn!("{field}: capability {name} is not known to this system, ignored")
            }
        }
    }
    Ok(out)
}

/// The sets as the process will get them.
pub struct Sets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

pub fn sets(c: Option<&LinuxCapabilities>) -> Result<Sets, SecurityError> {
    let get = |f: fn(&LinuxCapabilities) -> &Option<oci_spec::runtime::Capabilities>| {
        c.and_then(|c| f(c).as_ref())
    };
    Ok(Sets {
        bounding: to_set("process.capabilities.bounding", get(|c| c.bounding()))?,
        effective: to_set("process.capabilities.effective", get(|c| c.effective()))?,
        permitted: to_set("process.capabilities.permitted", get(|c| c.permitted()))?,
        inheritable: to_set("process.capabilities.inheritable", get(|c| c.inheritable()))?,
        ambient: to_set("process.capabilities.ambient", get(|c| c.ambient()))?,
    })
}

/// Drops every capability not in the bounding set from it. Needs CAP_SETPCAP: call before the uid switch.
pub fn apply_bounding(s: &Sets) -> Result<(), SecurityError> {
    for cap in caps::all() {
        if !s.bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
        {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                field_err(
                    "process.capabilities.bounding",
                    format!("dropping {cap}: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Sets permitted, inheritable and effective, then raises ambient (after the uid switch).
pub fn apply_rest(s: &Sets) -> Result<(), SecurityError> {
    caps::set(None, CapSet::Inheritable, &s.inheritable)
        .map_err(|e| field_err("process.capabilities.inheritable", e))?;
    // Effective must stay within permitted: shrink effective first, then permitted, then grow effective.
    let eff_now = caps::read(None, CapSet::Effective).unwrap_or_default();
    let tmp: CapsHashSet = eff_now.intersection(&s.permitted).cloned().collect();
    caps::set(None, CapSet::Effective, &tmp)
        .map_err(|e| field_err("process.capabilities.effective", e))?;
    caps::set(None, CapSet::Permitted, &s.permitted)
        .map_err(|e| field_err("process.capabilities.permitted", e))?;
    caps::set(None, CapSet::Effective, &s.effective)
        .map_err(|e| field_err("process.capabilities.effective", e))?;
    for cap in &s.ambient {
        // As runc: an ambient capability that is not also permitted and inheritable cannot be raised; warn and go on.
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            tracing::debug!("process.capabilities.ambient: cannot raise {cap}: {e}");
        }
    }
    Ok(())
}

/// Raises the effective set to the whole permitted set. After the uid switch (which
/// keeps permitted, PR_SET_KEEPCAPS) this gives the init CAP_SYS_ADMIN back for loading
/// a seccomp filter without no_new_privs; `apply_rest` then sets the final sets.
pub fn raise_permitted() -> Result<(), SecurityError> {
    let permitted = caps::read(None, CapSet::Permitted)
        .map_err(|e| field_err("process.capabilities", format!("reading permitted: {e}")))?;
    caps::set(None, CapSet::Effective, &permitted)
        .map_err(|e| field_err("process.capabilities", format!("raising effective: {e}")))
}
