//! Property tests of the pure parts: padding, the envelope, the CBOR packet.

use proptest::prelude::*;
use wochat::crypto::Identity;
use wochat::crypto::envelope::Keyring;
use wochat::wire::{self, AttachKind, Body, CHUNK_SIZE, ObjectMeta, Packet};

fn keyrings() -> (Keyring, Keyring) {
    (Keyring::new(Identity::generate().unwrap()), Keyring::new(Identity::generate().unwrap()))
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn object() -> impl Strategy<Value = ObjectMeta> {
    (
        hash(),
        0u64..(1 << 40),
        "[^/\\\\]{1,40}",
        "[a-z]{1,10}/[a-z0-9.+-]{1,20}",
        proptest::option::of(1u64..100_000),
        proptest::option::of(1u64..100_000),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..256)),
        proptest::option::of(hash()),
    )
        .prop_map(|(hash, size, name, mime, w, h, thumb, root)| ObjectMeta {
            hash,
            size,
            name,
            mime,
            chunks: size.div_ceil(CHUNK_SIZE),
            w,
            h,
            thumb,
            root,
        })
}

fn body() -> impl Strategy<Value = Body> {
    let kind =
        prop_oneof![Just(AttachKind::Image), Just(AttachKind::Gif), Just(AttachKind::Video), Just(AttachKind::File)];
    prop_oneof![
        ".{0,300}".prop_map(|text| Body::Text { text }),
        (kind, proptest::option::of(".{0,100}"), object()).prop_map(|(kind, text, obj)| Body::Attachment {
            kind,
            text,
            obj
        }),
        proptest::collection::vec(hash(), 0..40).prop_map(|ack| Body::Receipt { ack }),
        (
            hash(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..2048),
            proptest::collection::vec(hash(), 0..20)
        )
            .prop_map(|(hash, i, data, proof)| Body::Chunk { hash, i, data, proof }),
        (hash(), proptest::collection::vec(any::<u64>(), 0..100)).prop_map(|(hash, i)| Body::Need { hash, i }),
        (hash(), ".{0,300}").prop_map(|(target, text)| Body::Edit { target, text }),
        hash().prop_map(|target| Body::Delete { target }),
        (hash(), "[😀-🙏]{0,2}").prop_map(|(target, emoji)| Body::React { target, emoji }),
        proptest::collection::vec(hash(), 0..40).prop_map(|ack| Body::Read { ack }),
        any::<bool>().prop_map(|on| Body::Typing { on }),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    // A sender name, when there is one, is valid (an invalid one is dropped on decoding).
    let name = proptest::option::of("[a-zA-Z0-9 一-龥]{1,64}")
        .prop_filter("a name is not blank", |n| n.as_deref().is_none_or(wochat::wire::valid_sender_name));
    (any::<[u8; 16]>(), any::<u64>(), body(), name, proptest::option::of(hash()))
        .prop_map(|(id, ts, body, name, re)| Packet { id, ts, body, name, reply_to: None }.replying_to(re))
}

proptest! {
    #[test]
    fn padding_round_trips_to_the_padme_length(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
        let padded = wire::pad(&data);
        prop_assert_eq!(padded.len(), wire::padded_len(4 + data.len()));
        prop_assert!(padded.len() >= data.len());
        prop_assert_eq!(wire::unpad(&padded).unwrap(), &data[..]);
    }

    #[test]
    fn unpad_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = wire::unpad(&data);
    }

    #[test]
    fn packets_round_trip_through_cbor(p in packet()) {
        let cbor = p.encode();
        prop_assert_eq!(Packet::decode(&cbor).unwrap(), p);
    }

    #[test]
    fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::decode(&data);
    }
}

proptest! {
    // Each case does elliptic-curve work: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sealed_packets_open_as_sent_and_only_for_the_recipient(p in packet()) {
        let (alice, bob) = keyrings();
        let sealed = wire::seal_packet(&alice, &bob.address(), &p).unwrap();
        let opened = wire::open_envelope(&bob, &sealed.envelope).unwrap();
        prop_assert_eq!(opened.from, alice.address());
        prop_assert_eq!(opened.hash, sealed.hash);
        prop_assert_eq!(&opened.packet, &p);
        let (carol, _) = keyrings();
        prop_assert!(wire::open_envelope(&carol, &sealed.envelope).is_err());
    }

    #[test]
    fn any_changed_envelope_byte_is_rejected(
        text in ".{0,200}",
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (alice, bob) = keyrings();
        let sealed = wire::seal_packet(&alice, &bob.address(), &Packet::new(Body::Text { text })).unwrap();
        let mut env = sealed.envelope.clone();
        let i = at.index(env.len());
        env[i] ^= flip;
        prop_assert!(wire::open_envelope(&bob, &env).is_err(), "byte {} of {} changed", i, env.len());
    }
}
