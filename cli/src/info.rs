//! `vigil info`: version, backend and GPU adapter.

use clap::Args;

use crate::{Failure, Outcome};

/// Show vigil's version, the backend that would run and the GPU adapter.
///
/// Opens the GPU (wgpu) unless the backend is cpu, so it also tells whether a Vulkan,
/// Metal or DX12 adapter is usable on this machine.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  vigil info
  vigil info --json
  VIGIL_BACKEND=cpu vigil info")]
pub(crate) struct InfoArgs {
    /// The backend to ask about: auto, gpu or cpu (VIGIL_BACKEND overrides auto).
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    backend: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `vigil info`.
pub(crate) fn run(args: InfoArgs) -> Result<Outcome, Failure> {
    let info = vigil::backend_info(crate::backend(&args.backend)?)?;
    let requested = format!("{:?}", info.requested).to_lowercase();
    let text = if args.json {
        let adapter = info.adapter.as_ref().map(|a| {
            serde_json::json!({
                "name": a.name, "api": a.api, "device_type": a.device_type,
                "hardware": a.hardware, "max_storage_binding": a.max_storage_binding,
            })
        });
        let v = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backend": requested,
            "adapter": adapter,
            "adapter_error": info.adapter_error,
            "cpu_threads": info.cpu_threads,
        });
        format!("{v}\n")
    } else {
        let adapter = match (&info.adapter, &info.adapter_error) {
            (Some(a), _) => format!(
                "{} ({}, {}{})",
                a.name,
                a.api,
                a.device_type,
                if a.hardware { "" } else { ", software" }
            ),
            (None, Some(e)) => format!("none ({e})"),
            (None, None) => "none".into(),
        };
        format!(
            "vigil {}\nbackend:     {requested}\nGPU adapter: {adapter}\nCPU threads: {}\n",
            env!("CARGO_PKG_VERSION"),
            info.cpu_threads
        )
    };
    crate::out(&text)?;
    Ok(Outcome::Ok)
}
