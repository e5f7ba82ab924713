//! Known-answer vectors of the protocol v2 pieces (`docs/PROTOCOL.md`), in
//! `tests/data/v2-vectors.json`: the secret client id, a signed key bundle, an inner packet
//! and an outer envelope. An independent implementation must reproduce them byte for byte.
//! `UPDATE_VECTORS=1 cargo test --test vectors_v2` writes the file again (after a deliberate
//! change of the protocol only).

use serde_json::{Value, json};
use wochat::crypto::Identity;
use wochat::crypto::outer::{open_outer, seal_outer_with_ephemeral};
use wochat::wire::{Body, Inner, KeyBundle, Packet, device_id, pad, unpad};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/v2-vectors.json");

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

fn unh<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn unhv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The vectors, computed from fixed inputs.
fn compute() -> Value {
    // The keys of envelope-v1.json.
    let alice =
        Identity::from_secret_bytes(&unh(&json!("d68daec6904583b1f4baf148710a9a73e08d055ec2bdf21e779b1de92707822f")))
            .unwrap();
    let bob =
        Identity::from_secret_bytes(&unh(&json!("b5140667216771180c1975d0b37f1b1595d0313583df61763dacbe2fc0bae323")))
            .unwrap();
    let signing_key = [0x11; 32];
    let bundle = KeyBundle {
        address: alice.address(),
        device: device_id(&signing_key),
        created: 1_767_225_600_000,
        identity_key: [0x22; 32],
        signing_key,
        fallback_key: [0x33; 32],
        fallback_signature: [0x44; 64],
        one_time_keys: vec![[0x55; 32], [0x66; 32]],
        caps: 0,
    };
    let aux = [0x77; 32];
    let signed = bundle.sign_with_aux(&alice, &aux);
    let inner = Inner {
        from: alice.address(),
        device: bundle.device,
        kind: 1,
        olm: vec![0xab; 40],
        bundle: None,
        more: vec![],
    };
    let inner_cbor = inner.encode();
    let padded = pad(&inner_cbor);
    let ephemeral: [u8; 32] = [0x0e; 32];
    let envelope = seal_outer_with_ephemeral(&bob.address(), &padded, &ephemeral).unwrap();
    json!({
        "about": "Vectors for docs/PROTOCOL.md (v2). Keys are hex. The bundle body fields are given; 'signed' is the \
                  signed bundle with BIP-340 auxiliary randomness 'aux'. The envelope seals 'inner' (padded as in v1) \
                  for bob with 'ephemeral_sk'.",
        "keys": {
            "alice": {"sk": h(alice.secret_bytes()), "pk": alice.address().to_hex(),
                      "client_id": wochat::wire::secret_client_id(&alice)},
            "bob": {"sk": h(bob.secret_bytes()), "pk": bob.address().to_hex(),
                    "client_id": wochat::wire::secret_client_id(&bob)}
        },
        "bundle": {
            "addr": alice.address().to_hex(),
            "dev": h(&bundle.device),
            "ts": bundle.created,
            "ik": h(&bundle.identity_key),
            "ed": h(&bundle.signing_key),
            "fb": h(&bundle.fallback_key),
            "fbs": h(&bundle.fallback_signature),
            "otk": bundle.one_time_keys.iter().map(|k| h(k)).collect::<Vec<_>>(),
            "body": h(&bundle.encode_body()),
            "aux": h(&aux),
            "signed": h(&signed)
        },
        "inner": {
            "from": alice.address().to_hex(), "dev": h(&inner.device), "t": 1, "m": h(&inner.olm),
            "cbor": h(&inner_cbor)
        },
        "outer": {
            "recipient_sk": h(bob.secret_bytes()),
            "ephemeral_sk": h(&ephemeral),
            "padded": h(&padded),
            "envelope": h(&envelope)
        },
        "merkle": merkle_vectors(),
        "sender_name": sender_name_vector(),
        "file_padding": file_padding_vector(),
        "actions": actions_vector(),
        "batch": batch_vector(&alice, &bundle)
    })
}

/// Section 14: a bundle that takes batches, and an inner packet carrying three Olm messages.
fn batch_vector(alice: &Identity, bundle: &KeyBundle) -> Value {
    let with = KeyBundle { caps: wochat::wire::CAP_BATCHES, one_time_keys: vec![], ..bundle.clone() };
    let inner = Inner {
        from: alice.address(),
        device: bundle.device,
        kind: 1,
        olm: vec![0xa1; 40],
        bundle: None,
        more: vec![vec![0xa2; 40], vec![0xa3; 40]],
    };
    json!({
        "bundle_body": h(&with.encode_body()),
        "inner": { "m": h(&inner.olm), "more": inner.more.iter().map(|m| h(m)).collect::<Vec<_>>(),
                   "cbor": h(&inner.encode()) }
    })
}

/// Section 11: chunk packets on the wire (`n` chunks, `w` packets) for some sizes, and the last
/// chunk of section 9's file padded like every chunk packet of that file.
fn file_padding_vector() -> Value {
    use wochat::crypto::merkle::{MerkleTree, leaf_hash};
    let sizes: [u64; 10] = [0, 1, 65_536, 65_537, 131_082, 2_097_152, 4_259_740, 4_325_377, 10_000_000, 104_857_600];
    let rows: Vec<Value> = sizes
        .iter()
        .map(|&size| {
            let n = size.div_ceil(65_536);
            json!({ "size": size, "n": n, "w": wochat::wire::padded_chunks(size).max(n) })
        })
        .collect();
    let file: Vec<u8> = (0..2 * 65536 + 10).map(|i| (i % 251) as u8).collect();
    let tree = MerkleTree::new(file.chunks(65536).map(leaf_hash).collect());
    let hash = wochat::crypto::sha256(&file);
    let w = wochat::wire::padded_chunks(file.len() as u64).max(3);
    let longest = Packet {
        id: [0x22; 16],
        ts: 1_767_225_600_001,
        body: Body::Chunk { hash, i: w - 1, data: vec![0; 65_536], proof: vec![[0; 32]; tree.proof(0).unwrap().len()] },
        name: None,
        reply_to: None,
    };
    let len = longest.encode().len() + 8;
    let last = Packet {
        id: [0x22; 16],
        ts: 1_767_225_600_001,
        body: Body::Chunk { hash, i: 2, data: file[2 * 65536..].to_vec(), proof: tree.proof(2).unwrap() },
        name: None,
        reply_to: None,
    };
    let padded = last.encode_padded_to(len);
    json!({
        "sizes": rows,
        "last_chunk": { "L": len, "len": padded.len(), "sha256": h(&wochat::crypto::sha256(&padded)) }
    })
}

/// Section 13: a reply, an edit, a delete, a reaction, a read receipt and a typing packet.
fn actions_vector() -> Value {
    let target = [0x44; 32];
    let packet = |n: u8, body: Body| Packet {
        id: [n; 16],
        ts: 1_767_225_600_000 + u64::from(n),
        body,
        name: None,
        reply_to: None,
    };
    let rows = [
        ("reply", packet(1, Body::Text { text: "yes".into() }).replying_to(Some(target))),
        ("edit", packet(2, Body::Edit { target, text: "lunch at 1?".into() })),
        ("delete", packet(3, Body::Delete { target })),
        ("react", packet(4, Body::React { target, emoji: "👍🏽".into() })),
        ("unreact", packet(5, Body::React { target, emoji: String::new() })),
        ("read", packet(6, Body::Read { ack: vec![target] })),
        ("typing", packet(7, Body::Typing { on: true })),
    ];
    let mut out = serde_json::Map::new();
    out.insert("target".into(), json!(h(&target)));
    for (name, p) in rows {
        let cbor = p.encode();
        out.insert(name.into(), json!({ "cbor": h(&cbor), "hash": h(&wochat::crypto::sha256(&cbor)) }));
    }
    Value::Object(out)
}

/// Section 10: a text packet carrying the sender's name.
fn sender_name_vector() -> Value {
    let p = Packet {
        id: [0x33; 16],
        ts: 1_767_225_600_002,
        body: Body::Text { text: "Hello! We met at the conference.".into() },
        name: Some("王芳 Wang Fang".into()),
        reply_to: None,
    };
    json!({ "name": "王芳 Wang Fang", "cbor": h(&p.encode()) })
}

/// Section 9: a file of 2 x 65536 + 10 bytes (byte `i` is `i mod 251`): its chunks' leaf
/// hashes, root and proofs, the attachment packet naming the root and the last chunk's packet.
fn merkle_vectors() -> Value {
    use wochat::crypto::merkle::{MerkleTree, leaf_hash};
    use wochat::wire::{AttachKind, ObjectMeta};
    let file: Vec<u8> = (0..2 * 65536 + 10).map(|i| (i % 251) as u8).collect();
    let leaves: Vec<[u8; 32]> = file.chunks(65536).map(leaf_hash).collect();
    let tree = MerkleTree::new(leaves.clone());
    let hash = wochat::crypto::sha256(&file);
    let meta = ObjectMeta {
        hash,
        size: file.len() as u64,
        name: "f.bin".into(),
        mime: "application/octet-stream".into(),
        chunks: 3,
        w: None,
        h: None,
        thumb: None,
        root: Some(tree.root()),
    };
    let attachment = Packet {
        id: [0x11; 16],
        ts: 1_767_225_600_000,
        body: Body::Attachment { kind: AttachKind::File, text: None, obj: meta },
        name: None,
        reply_to: None,
    };
    let proof = tree.proof(2).unwrap();
    let chunk = Packet {
        id: [0x22; 16],
        ts: 1_767_225_600_001,
        body: Body::Chunk { hash, i: 2, data: file[2 * 65536..].to_vec(), proof },
        name: None,
        reply_to: None,
    };
    json!({
        "file": "byte i = i mod 251, 131082 bytes",
        "sha256": h(&hash),
        "leaves": leaves.iter().map(|l| h(l)).collect::<Vec<_>>(),
        "root": h(&tree.root()),
        "proofs": (0..3).map(|i| tree.proof(i).unwrap().iter().map(|p| h(p)).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "attachment_cbor": h(&attachment.encode()),
        "chunk2_cbor": h(&chunk.encode())
    })
}

#[test]
fn v2_vectors_match_byte_for_byte() {
    let now = compute();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(v, now, "the v2 vectors changed");
    // And the other way round: what the file says opens and verifies.
    let bundle = KeyBundle::open(&unhv(&v["bundle"]["signed"])).unwrap();
    assert_eq!(bundle.address.to_hex(), v["bundle"]["addr"].as_str().unwrap());
    assert_eq!(bundle.encode_body(), unhv(&v["bundle"]["body"]));
    let bob = Identity::from_secret_bytes(&unh(&v["outer"]["recipient_sk"])).unwrap();
    let padded = open_outer(&bob, &unhv(&v["outer"]["envelope"])).unwrap();
    assert_eq!(padded, unhv(&v["outer"]["padded"]));
    let inner = Inner::decode(unpad(&padded).unwrap()).unwrap();
    assert_eq!(inner.olm, unhv(&v["inner"]["m"]));
    // A bundle whose signature is by someone else is refused.
    let mut forged = unhv(&v["bundle"]["signed"]);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(KeyBundle::open(&forged).is_err());
    // The sender's name comes out of its packet.
    // A padded chunk packet decodes to the chunk; the file's packets are never shorter than its
    // chunks.
    for row in v["file_padding"]["sizes"].as_array().unwrap() {
        assert!(row["w"].as_u64() >= row["n"].as_u64(), "{row}");
    }
    // Each action decodes to its type, acting on the target (a reply refers to it).
    let target: [u8; 32] = unh(&v["actions"]["target"]);
    for (name, letter) in
        [("reply", 'T'), ("edit", 'E'), ("delete", 'D'), ("react", 'X'), ("read", 'S'), ("typing", 'Y')]
    {
        let p = Packet::decode(&unhv(&v["actions"][name]["cbor"])).unwrap();
        assert_eq!(p.body.letter(), letter, "{name}");
        assert!(p.reply_to == Some(target) || p.body.action_target() == Some(target) || letter == 'S' || letter == 'Y');
    }
    let named = Packet::decode(&unhv(&v["sender_name"]["cbor"])).unwrap();
    assert_eq!(named.name.as_deref(), v["sender_name"]["name"].as_str());
    // Every chunk's proof verifies against the root, and not as another chunk.
    let m = &v["merkle"];
    let root: [u8; 32] = unh(&m["root"]);
    for i in 0..3 {
        let leaf: [u8; 32] = unh(&m["leaves"][i]);
        let proof: Vec<[u8; 32]> = m["proofs"][i].as_array().unwrap().iter().map(unh).collect();
        assert!(wochat::crypto::merkle::verify(&root, 3, i as u64, &leaf, &proof));
        assert!(!wochat::crypto::merkle::verify(&root, 3, (i as u64 + 1) % 3, &leaf, &proof));
    }
}
