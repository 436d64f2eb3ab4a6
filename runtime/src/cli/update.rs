use sangja_cgroups::UpdateFlags;

use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to a file containing the resources to update, or "-" to read from stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Specifies the weight of the container's block IO (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<String>,
    /// CPU CFS period to be used for hardcapping (in usecs)
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<String>,
    /// CPU realtime period to be used for hardcapping (in usecs)
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime hardcap limit (in usecs)
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<String>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated, ignored with a warning)
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Kernel memory limit for tcp buffer (deprecated, ignored with a warning)
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<String>,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let flags = UpdateFlags {
        memory: a.memory,
        memory_swap: a.memory_swap,
        memory_reservation: a.memory_reservation,
        kernel_memory: a.kernel_memory,
        kernel_memory_tcp: a.kernel_memory_tcp,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpu_share: a.cpu_share,
        cpu_rt_period: a.cpu_rt_period,
        cpu_rt_runtime: a.cpu_rt_runtime,
        cpuset_cpus: a.cpuset_cpus,
        cpuset_mems: a.cpuset_mems,
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        resources: a.resources,
    };
    let resources = sangja_cgroups::update_from_flags(&flags, &mut std::io::stdin())?;
    crate::container::update(&g.root, &a.id, &resources)?;
    Ok(0)
}
