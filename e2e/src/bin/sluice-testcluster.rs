//! Starts a test control plane for manual use and prints how to reach it.
//!
//! Usage: `sluice-testcluster [--port N] [--rbac] [--token-file FILE] [--image PATTERN=EXECUTABLE]...`

use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_e2e::{ImageRule, ImageTarget, TestCluster};

fn main() -> Result<()> {
    let mut builder = TestCluster::builder();
    let mut port = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--rbac" => builder = builder.rbac(true),
            "--token-file" => builder = builder.token_file(&std::fs::read_to_string(value()?)?),
            "--image" => {
                let v = value()?;
                let (pattern, exe) = v
                    .split_once('=')
                    .context("--image takes PATTERN=EXECUTABLE or PATTERN=host")?;
                let target = if exe == "host" {
                    ImageTarget::Host
                } else {
                    ImageTarget::Executable(exe.into())
                };
                builder = builder.image(ImageRule::new(pattern, target));
            }
            "-h" | "--help" => {
                println!(
                    "usage: sluice-testcluster [--port N] [--rbac] [--token-file FILE] [--image PATTERN=EXECUTABLE|host]..."
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let cluster = builder.start_on(port)?;
    println!("API server:  {}", cluster.url());
    println!(
        "kubeconfig:  {} (a context per user)",
        cluster.combined_kubeconfig_path().display()
    );
    println!(
        "per user:    {}",
        cluster.kubeconfig_path("<user>").display()
    );
    println!(
        "try:         KUBECONFIG={} kubectl get namespaces",
        cluster.combined_kubeconfig_path().display()
    );
    println!("Ctrl-C stops the cluster and deletes its directory.");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    drop(cluster);
    std::thread::sleep(Duration::from_millis(50));
    Ok(())
}
