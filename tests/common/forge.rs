//! A peer that exists only as a key: it forges v1 packets, sealed with its own key as any
//! sender may, and puts them straight onto a broker (the in-memory hub or a real one).

use std::time::Duration;

use tokio::sync::mpsc;
use wochat::crypto::envelope::Keyring;
use wochat::crypto::merkle::{MerkleTree, leaf_hash};
use wochat::crypto::{Address, Identity};
use wochat::objects::ObjectId;
use wochat::testkit::{TestNet, TestPeer};
use wochat::transport::{BrokerUrl, Link, Transport, TransportConfig, TransportEvent};
use wochat::wire::{AttachKind, Body, ObjectMeta, Packet, seal_packet};

/// Size of a file chunk on the wire.
pub const CHUNK: usize = 65536;

/// A forging sender.
pub struct Forger {
    /// Its key.
    pub keys: Keyring,
}

impl Forger {
    /// A new stranger.
    pub fn new() -> Self {
        Self { keys: Keyring::new(Identity::generate().unwrap()) }
    }

    /// A new sender `to` has as a friend.
    pub async fn befriended_by(to: &TestPeer) -> Self {
        let f = Self::new();
        to.client.add_friend(f.address(), "Mallory".into()).await.unwrap();
        f
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.keys.address()
    }

    /// `packet` sealed for `to`.
    pub fn envelope(&self, to: &Address, packet: &Packet) -> Vec<u8> {
        seal_packet(&self.keys, to, packet).unwrap().envelope
    }

    /// The attachment message announcing `data` under `name`, of `kind` and `mime`.
    pub fn attachment(&self, to: &Address, kind: AttachKind, name: &str, mime: &str, data: &[u8]) -> Vec<u8> {
        self.attachment_with(to, kind, name, mime, data, None)
    }

    /// [`Forger::attachment`] naming the Merkle root of `data`'s chunks.
    pub fn attachment_proved(&self, to: &Address, kind: AttachKind, name: &str, data: &[u8]) -> Vec<u8> {
        let root = tree_of(data).root();
        self.attachment_with(to, kind, name, "application/octet-stream", data, Some(root))
    }

    fn attachment_with(
        &self,
        to: &Address,
        kind: AttachKind,
        name: &str,
        mime: &str,
        data: &[u8],
        root: Option<[u8; 32]>,
    ) -> Vec<u8> {
        let meta = ObjectMeta {
            hash: wochat::crypto::sha256(data),
            size: data.len() as u64,
            name: name.into(),
            mime: mime.into(),
            chunks: (data.len() as u64).div_ceil(CHUNK as u64),
            w: None,
            h: None,
            thumb: None,
            root,
        };
        self.envelope(to, &Packet::new(Body::Attachment { kind, text: None, obj: meta }))
    }

    /// The chunks of `data` (as object `id`), each made by `bad` from the right one.
    pub fn chunks(&self, to: &Address, id: ObjectId, data: &[u8], bad: impl Fn(u64, &[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
        data.chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                self.envelope(
                    to,
                    &Packet::new(Body::Chunk { hash: id.0, i: i as u64, data: bad(i as u64, c), proof: Vec::new() }),
                )
            })
            .collect()
    }

    /// The chunks of `data`, each made by `bad` from the right one, with the right one's proof.
    pub fn chunks_proved(&self, to: &Address, data: &[u8], bad: impl Fn(u64, &[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
        let tree = tree_of(data);
        let hash = wochat::crypto::sha256(data);
        data.chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                let i = i as u64;
                let proof = tree.proof(i).unwrap();
                self.envelope(to, &Packet::new(Body::Chunk { hash, i, data: bad(i, c), proof }))
            })
            .collect()
    }

    /// Sends a whole file (message and right chunks) to `to` on the in-memory hub of `net`.
    pub fn send_file(&self, net: &TestNet, to: &Address, kind: AttachKind, name: &str, data: &[u8]) -> ObjectId {
        let hub = net.hub().expect("a net in memory");
        hub.inject(&to.to_hex(), self.attachment(to, kind, name, "application/octet-stream", data));
        let id = ObjectId(wochat::crypto::sha256(data));
        for c in self.chunks(to, id, data, |_, c| c.to_vec()) {
            hub.inject(&to.to_hex(), c);
        }
        id
    }
}

/// The Merkle tree of `data`'s chunks.
pub fn tree_of(data: &[u8]) -> MerkleTree {
    MerkleTree::new(data.chunks(CHUNK).map(leaf_hash).collect())
}

/// Publishes `envelopes` on `topic` of the broker at `url` (QoS 1), waiting until the broker
/// has taken every one.
pub async fn publish_all(url: &str, topic: &str, envelopes: Vec<Vec<u8>>) {
    let mut cfg = TransportConfig::new(
        vec![BrokerUrl::parse(url).unwrap()],
        format!("forger-{}", std::process::id()),
        format!("forger/{}", std::process::id()),
    );
    cfg.clean_session = true;
    let (tx, mut rx) = mpsc::channel(1024);
    let link = Transport::start(cfg, tx).unwrap();
    let n = envelopes.len();
    for (i, env) in envelopes.into_iter().enumerate() {
        let mut tag = [0u8; 32];
        tag[..8].copy_from_slice(&(i as u64).to_le_bytes());
        link.publish(vec![tag], topic.to_string(), env);
    }
    let mut acked = 0;
    while acked < n {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(TransportEvent::Acked(tags))) => acked += tags.len(),
            Ok(Some(_)) => {}
            other => panic!("the broker took {acked} of {n} forged envelopes: {other:?}"),
        }
    }
    link.shutdown().await;
}
