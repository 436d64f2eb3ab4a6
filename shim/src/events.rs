//! Task events to containerd, queued on the shim crate's publisher (which retries
//! and reconnects). The envelope is built here with the event's type name given
//! directly: the publisher's own `publish` looks the name up through protobuf
//! reflection, which parses the whole descriptor tree into the heap of every shim.

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::shim_async::Events;
use containerd_shim::protos::ttrpc::r#async::TtrpcContext;
use containerd_shim::publisher::RemotePublisher;

/// The protobuf package of containerd's task events.
const EVENTS_PACKAGE: &str = "containerd.events";

/// The Any a task event travels in.
pub fn to_any<M: Message>(event: &M) -> Result<Any, String> {
    Ok(Any {
        type_url: format!("{EVENTS_PACKAGE}.{}", M::NAME),
        value: event.write_to_bytes().map_err(|e| e.to_string())?,
        ..Default::default()
    })
}

/// Publishes one event; a failure is logged (containerd may be restarting), never fatal.
pub async fn publish<M: Message>(
    publisher: &RemotePublisher,
    namespace: &str,
    topic: &str,
    event: M,
) {
    let any = match to_any(&event) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("encode {topic}: {e}");
            return;
        }
    };
    let envelope = Envelope {
        timestamp: containerd_shim::util::timestamp().ok().into(),
        namespace: namespace.to_string(),
        topic: topic.to_string(),
        event: Some(any).into(),
        ..Default::default()
    };
    let req = ForwardRequest {
        envelope: Some(envelope).into(),
        ..Default::default()
    };
    let ctx = TtrpcContext {
        mh: Default::default(),
        metadata: Default::default(),
        timeout_nano: 0,
    };
    if let Err(e) = publisher.forward(&ctx, req).await {
        tracing::warn!("publish {topic}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::events::task::TaskCreate;
    use containerd_shim::protos::protobuf::MessageFull;

    #[test]
    fn type_url_is_the_full_protobuf_name() {
        let any = to_any(&TaskCreate::new()).unwrap();
        assert_eq!(any.type_url, TaskCreate::descriptor().full_name());
    }
}
