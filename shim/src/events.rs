//! Task events to containerd.

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

/// Publishes one event; a failure is logged (containerd may be restarting), never fatal.
pub async fn publish(
    publisher: &RemotePublisher,
    namespace: &str,
    topic: &str,
    event: Box<dyn MessageDyn>,
) {
    if let Err(e) = publisher
        .publish(Context::default(), topic, namespace, event)
        .await
    {
        tracing::warn!("publish {topic}: {e}");
    }
}
