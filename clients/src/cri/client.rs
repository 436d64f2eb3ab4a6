//! A CRI v1 client (runtime.v1 RuntimeService and ImageService, the published
//! `k8s-cri` types and tonic clients) over a containerd unix socket, driven
//! synchronously from a current-thread tokio runtime. Every call is timed and
//! logged under its RPC name, so the benchmark reads the same calls the tests make.

use anyhow::{Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// A hang guard for any one call (never a timing assertion): minutes.
const CALL_GUARD: Duration = crate::cmd::HANG_GUARD;

pub type Runtime = RuntimeServiceClient<Channel>;
pub type Images = ImageServiceClient<Channel>;

pub struct Cri {
    rt: tokio::runtime::Runtime,
    runtime: Runtime,
    images: Images,
    /// (RPC name, wall time) of every successful call, in order.
    pub timings: Vec<(&'static str, Duration)>,
}

impl Cri {
    /// Connects to the CRI endpoint at `socket` (containerd's gRPC socket).
    pub fn connect(socket: &Path) -> Result<Cri> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let path: PathBuf = socket.to_path_buf();
        let channel = rt
            .block_on(async move {
                // The URI is a placeholder: the connector dials the socket.
                Endpoint::try_from("http://[::]:0")?
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(s))
                        }
                    }))
                    .await
            })
            .with_context(|| format!("connect to CRI at {}", socket.display()))?;
        Ok(Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            timings: Vec::new(),
        })
    }

    /// One RuntimeService call: `call(client)` makes the request; the response body
    /// comes back, or an error naming the RPC and the status.
    pub fn runtime<T, F, Fut>(&mut self, rpc: &'static str, call: F) -> Result<T>
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let fut = call(self.runtime.clone());
        self.timed(rpc, fut)
    }

    /// One ImageService call, as `runtime`.
    pub fn image<T, F, Fut>(&mut self, rpc: &'static str, call: F) -> Result<T>
    where
        F: FnOnce(Images) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let fut = call(self.images.clone());
        self.timed(rpc, fut)
    }

    fn timed<T>(
        &mut self,
        rpc: &'static str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        let start = Instant::now();
        let out = self
            .rt
            .block_on(async { tokio::time::timeout(CALL_GUARD, fut).await })
            .map_err(|_| anyhow::anyhow!("CRI {rpc}: no answer within {CALL_GUARD:?}"))?
            .map_err(|s| anyhow::anyhow!("CRI {rpc}: {:?}: {}", s.code(), s.message()))?;
        self.timings.push((rpc, start.elapsed()));
        Ok(out.into_inner())
    }
}
