//! The Merkle tree hash of RFC 6962 (section 2.1, as restated in RFC 9162 section 2.1.1) over
//! the chunks of a file, with inclusion proofs, so that each chunk can be checked against the
//! root the sender put in the message before it is written (`docs/PROTOCOL.md`, section 9).
//!
//! ```text
//! MTH({})      = SHA256()
//! MTH({d0})    = SHA256(0x00 || d0)
//! MTH(D[n])    = SHA256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k: the largest power of 2 < n
//! ```
//!
//! The tree is kept level by level (a lone last node moves up unchanged, which gives the same
//! hashes as the recursive definition), so a proof costs `log2(n)` lookups.

use sha2::{Digest, Sha256};

/// A hash of the tree (a leaf, a node or the root).
pub type Hash = [u8; 32];

/// Most hashes in a proof: enough for 2^64 leaves.
pub const MAX_PROOF: usize = 64;

/// `SHA256(0x00 || data)`: the hash of one chunk.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA256(0x01 || left || right)`.
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A whole tree, built from its leaf hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` the leaves, the last level the root alone (none when there are no leaves).
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves` (each a [`leaf_hash`]).
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    // A lone last node moves up unchanged.
                    _ => pair[0],
                })
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The root (`SHA256()` for no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|l| l.first()) {
            Some(root) => *root,
            None => Sha256::digest([]).into(),
        }
    }

    /// The inclusion proof (audit path) of leaf `index`, from the leaf's level up; `None` for an
    /// index past the end.
    pub fn proof(&self, index: u64) -> Option<Vec<Hash>> {
        if index >= self.len() {
            return None;
        }
        let mut path = Vec::new();
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// Whether `proof` shows that `leaf` (a [`leaf_hash`]) is leaf `index` of a tree of `size`
/// leaves with root `root` (RFC 9162, section 2.1.3.2).
pub fn verify(root: &Hash, size: u64, index: u64, leaf: &Hash, proof: &[Hash]) -> bool {
    if index >= size || proof.len() > MAX_PROOF {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH by the recursive definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn largest_power_of_two_below(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// PATH(m, D[n]) by the recursive definition.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u32).to_le_bytes())).collect()
    }

    #[test]
    fn matches_the_recursive_definition_and_every_proof_verifies() {
        for n in 0..70 {
            let l = leaves(n);
            let t = MerkleTree::new(l.clone());
            assert_eq!(t.root(), mth(&l), "root of {n}");
            for i in 0..n {
                let p = t.proof(i as u64).unwrap();
                assert_eq!(p, path(i, &l), "path {i} of {n}");
                assert!(verify(&t.root(), n as u64, i as u64, &l[i], &p), "proof {i} of {n}");
            }
            assert!(t.proof(n as u64).is_none());
        }
    }

    #[test]
    fn wrong_leaves_indexes_sizes_and_proofs_fail() {
        let l = leaves(13);
        let t = MerkleTree::new(l.clone());
        let root = t.root();
        let p = t.proof(5).unwrap();
        assert!(verify(&root, 13, 5, &l[5], &p));
        assert!(!verify(&root, 13, 5, &l[6], &p), "another leaf");
        assert!(!verify(&root, 13, 6, &l[5], &p), "another index");
        // The root binds the content; the size shapes the path: the last leaf's proof does not
        // hold for a larger tree.
        assert!(verify(&root, 13, 12, &l[12], &t.proof(12).unwrap()));
        assert!(!verify(&root, 14, 12, &l[12], &t.proof(12).unwrap()), "another size");
        assert!(!verify(&root, 13, 13, &l[5], &p), "past the end");
        assert!(!verify(&root, 13, 5, &l[5], &p[..p.len() - 1]), "too short");
        let mut longer = p.clone();
        longer.push(root);
        assert!(!verify(&root, 13, 5, &l[5], &longer), "too long");
        let mut bent = p;
        bent[1][0] ^= 1;
        assert!(!verify(&root, 13, 5, &l[5], &bent), "a changed hash");
        // A node is not a leaf: the domain separation keeps an inner node from passing as one.
        let inner = MerkleTree::new(l[..2].to_vec()).root();
        assert!(!verify(&root, 12, 0, &inner, &t.proof(0).unwrap()[1..]));
    }

    #[test]
    fn the_empty_tree_and_one_leaf() {
        let empty = MerkleTree::new(Vec::new());
        assert_eq!(empty.root(), <[u8; 32]>::from(Sha256::digest([])));
        assert!(empty.is_empty() && empty.proof(0).is_none());
        let one = MerkleTree::new(vec![leaf_hash(b"x")]);
        assert_eq!(one.root(), leaf_hash(b"x"));
        assert_eq!(one.proof(0).unwrap(), Vec::<Hash>::new());
        assert!(verify(&one.root(), 1, 0, &leaf_hash(b"x"), &[]));
    }
}
